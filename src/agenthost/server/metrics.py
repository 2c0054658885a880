"""Prometheus metrics, computed from the events every run already produces.

Each app gets its own registry (two apps in one process never clash). `GET /metrics`:

    agenthost_runs_total{agent,status}                  runs ended, by status
    agenthost_active_runs{agent}                        runs going now
    agenthost_run_duration_seconds{agent}               run latency (histogram)
    agenthost_model_call_duration_seconds{agent,model}  model latency (histogram): the time from
                                                        the event before a model's reply (the
                                                        user message or the last tool result) to
                                                        its `message.completed`, so it includes
                                                        the little the loop does in between
    agenthost_tokens_total{agent,direction}             input / output tokens
    agenthost_cost_usd_total{agent}                     cost, where prices are known
    agenthost_events_total{agent,type}                  events streamed, by type
plus the process collector (CPU, memory, open files).

A worker process (`agenthost worker`) serves the same metrics, under the same names, from its
own `Metrics` on a port of its own: `serve_metrics(metrics, port)` (the port from
AGENTHOST_METRICS_PORT, see `metrics_port`), its runs observed with `metrics.observe`. Each
process is one scrape target; sum over the `instance` label in Prometheus (see
docs/observability.md). No shared multiprocess directory is needed: a worker is one process.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.values import MutexValue

from agenthost.core.events import Event

METRICS_PORT_ENV = "AGENTHOST_METRICS_PORT"


class ObservedRun(Protocol):
    """What `Metrics.observe` reads of a run: a server's `RunRequest`, or a worker's job."""

    @property
    def agent(self) -> str: ...

    @property
    def run_id(self) -> str: ...


class EventCounts:
    """`agenthost_events_total{agent,type}` as plain ints, read when the metrics are scraped:
    `observe` counts every event of every run, and a Counter child's `inc` takes a lock."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            "agenthost_events", "Events streamed, by type.", labels=["agent", "type"]
        )

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._family()
        for (agent, kind), count in list(self.counts.items()):
            family.add_metric([agent, kind], count)
        yield family


M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    """The labelled children of a metric, cached by their label values: `labels()` checks
    its arguments, converts each to str and takes the metric's lock on every call, and
    `Metrics.observe` wants a child for several events of every run. The label values are
    few (agents, statuses, models, directions), so the cache stays small."""

    __slots__ = ("children", "metric")

    metric: M
    children: dict[tuple[str, ...], M]

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self.children = {}

    def __call__(self, *values: str) -> M:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.metric.labels(*values)
        return child


class _Value(Protocol):
    """A child's value (prometheus_client's `MutexValue` or, in multiprocess mode, its
    mmapped value): what `Counter.inc`, `Gauge.inc` and `Gauge.dec` change."""

    def inc(self, amount: float) -> None: ...


class Values:
    """The values of a Counter's or Gauge's children, cached by their label values: a child's
    `inc` is three Python calls (the observable check, the value's `inc`, its lock), this one;
    `Metrics.observe` makes five to six a run. Counters still refuse a negative amount.

    A `MutexValue` (prometheus' value outside its multiprocess mode) is added to without its
    lock: `Metrics` is written only from the event loop's thread (`observe` is a run
    observer; a worker's metrics thread only reads, under the lock, a float that is replaced
    whole), so the lock (0.2 µs an update, 11 updates a run) guards against nothing here."""

    __slots__ = ("children", "counter", "values")

    def __init__(self, metric: Counter | Gauge) -> None:
        self.children: Children[Counter | Gauge] = Children(metric)  # type: ignore[type-var]
        self.counter = isinstance(metric, Counter)
        self.values: dict[tuple[str, ...], _Value] = {}

    def inc(self, amount: float, *labels: str) -> None:
        value = self.values.get(labels)
        if value is None:
            value = self.values[labels] = self.children(*labels)._value
        if self.counter and amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        if type(value) is MutexValue:
            value._value += amount
        else:
            value.inc(amount)


class Buckets:
    """`Histogram.observe` of cached children in two value updates: the sum and the bucket
    `bisect` finds (the first bound at or above the amount, as `observe` does, in C)."""

    __slots__ = ("bounds", "children", "series")

    def __init__(self, metric: Histogram) -> None:
        self.children = Children(metric)
        self.bounds: list[float] = list(metric._upper_bounds)
        self.series: dict[tuple[str, ...], tuple[_Value, list[_Value]]] = {}

    def observe(self, amount: float, *labels: str) -> None:
        series = self.series.get(labels)
        if series is None:
            child = self.children(*labels)
            series = self.series[labels] = (child._sum, child._buckets)
        total, buckets = series
        bucket = buckets[bisect.bisect_left(self.bounds, amount)]
        if type(total) is MutexValue and type(bucket) is MutexValue:  # unlocked (`Values`)
            total._value += amount
            bucket._value += 1
        else:
            total.inc(amount)
            bucket.inc(1)


_LATENCY = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)
        self.runs = Counter(
            "agenthost_runs", "Runs ended, by status.", ["agent", "status"], registry=registry
        )
        self.active = Gauge(
            "agenthost_active_runs", "Runs going now.", ["agent"], registry=registry
        )
        self.run_seconds = Histogram(
            "agenthost_run_duration_seconds",
            "Run latency, from the user's message to the run's end.",
            ["agent"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.model_seconds = Histogram(
            "agenthost_model_call_duration_seconds",
            "Model call latency, from the event before a reply to the reply.",
            ["agent", "model"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.tokens = Counter(
            "agenthost_tokens", "Tokens, by direction.", ["agent", "direction"], registry=registry
        )
        self.cost = Counter(
            "agenthost_cost_usd",
            "Cost in USD, where prices are known.",
            ["agent"],
            registry=registry,
        )
        self.events = EventCounts()
        registry.register(self.events)
        self._last_at: dict[str, float] = {}  # run id -> time of its last non-partial event
        self._runs = Values(self.runs)
        self._active = Values(self.active)
        self._run_seconds = Buckets(self.run_seconds)
        self._model_seconds = Buckets(self.model_seconds)
        self._tokens = Values(self.tokens)
        self._cost = Values(self.cost)

    def observe(self, request: ObservedRun, event: Event) -> None:
        """A run observer (see RunManager): called for every event of every run."""
        agent = request.agent
        run_id = request.run_id
        kind = event.type
        counts = self.events.counts
        key = (agent, kind)
        counts[key] = counts.get(key, 0) + 1
        if event.partial:
            return
        if kind == "message.received":
            self._active.inc(1, agent)
        elif kind == "message.completed" and event.message is not None:
            model = (event.data or {}).get("model")
            since = self._last_at.get(run_id)
            if model and since is not None and event.message.role == "assistant":
                self._model_seconds.observe(event.timestamp - since, agent, str(model))
        elif event.is_terminal:
            self._ended(agent, event)
            self._last_at.pop(run_id, None)
            return
        self._last_at[run_id] = event.timestamp

    def _ended(self, agent: str, event: Event) -> None:
        data = event.data or {}
        status = str(data.get("status") or event.type.removeprefix("run."))
        self._runs.inc(1, agent, status)
        self._active.inc(-1, agent)
        duration = data.get("duration_ms")
        if isinstance(duration, int | float):
            self._run_seconds.observe(duration / 1000, agent)
        usage = event.usage
        if usage is not None:
            self._tokens.inc(usage.input_tokens, agent, "input")
            self._tokens.inc(usage.output_tokens, agent, "output")
            if usage.cost:
                self._cost.inc(usage.cost, agent)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(slots=True)
class MetricsServer:
    """`GET /metrics` of a process without the HTTP app (a worker), in a daemon thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def serve_metrics(metrics: Metrics, port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Serve `metrics` on http://host:port/metrics (port 0: any free port)."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server, thread)


def metrics_port(env: Mapping[str, str] | None = None) -> int | None:
    """The port in AGENTHOST_METRICS_PORT, or None when it is unset or empty."""
    raw = (os.environ if env is None else env).get(METRICS_PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 65535:
        from agenthost.core.errors import ConfigError

        raise ConfigError(f"{METRICS_PORT_ENV}={raw!r} is not a port: use a number 0-65535.")
    return int(raw)
