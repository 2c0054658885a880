"""`Metrics` keeps the labelled children it uses per run: the same series, counted right."""

from __future__ import annotations

from typing import Any

import pytest

from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.usage import Usage
from agenthost.server.metrics import Children, Metrics
from agenthost.server.runs import RunRequest


def _run(metrics: Metrics, agent: str, status: str, *, model: str = "m") -> None:
    request = RunRequest(agent=agent, user_id="u", session_id="s", message=Message.user("x"))

    def event(kind: str, timestamp: float, **fields: Any) -> Event:
        return Event(
            id="e", run_id=request.run_id, author="x", type=kind, timestamp=timestamp, **fields
        )

    metrics.observe(request, event("message.received", 1.0))
    reply = Message.assistant("hi")
    metrics.observe(request, event("message.completed", 1.5, message=reply, data={"model": model}))
    metrics.observe(
        request,
        event(
            f"run.{status}",
            2.0,
            usage=Usage(input_tokens=10, output_tokens=2, cost=0.5),
            data={"status": status, "duration_ms": 1000.0},
        ),
    )


def test_runs_are_counted_in_their_own_series_across_runs() -> None:
    metrics = Metrics()
    _run(metrics, "a", "completed")
    _run(metrics, "a", "completed")
    _run(metrics, "a", "failed")
    _run(metrics, "b", "completed", model="n")
    lines = set(metrics.render().decode().splitlines())
    expected = {
        'agenthost_runs_total{agent="a",status="completed"} 2.0',
        'agenthost_runs_total{agent="a",status="failed"} 1.0',
        'agenthost_runs_total{agent="b",status="completed"} 1.0',
        'agenthost_tokens_total{agent="a",direction="input"} 30.0',
        'agenthost_tokens_total{agent="a",direction="output"} 6.0',
        'agenthost_cost_usd_total{agent="a"} 1.5',
        'agenthost_run_duration_seconds_count{agent="a"} 3.0',
        'agenthost_model_call_duration_seconds_count{agent="a",model="m"} 3.0',
        'agenthost_model_call_duration_seconds_sum{agent="b",model="n"} 0.5',
        'agenthost_active_runs{agent="a"} 0.0',
    }
    assert expected - lines == set()


def test_children_are_the_metrics_own_and_made_once() -> None:
    metrics = Metrics()
    children = Children(metrics.runs)
    first = children("a", "completed")
    assert children("a", "completed") is first
    assert metrics.runs.labels("a", "completed") is first  # the series the registry renders
    assert list(children.children) == [("a", "completed")]


def test_values_and_buckets_count_what_the_public_api_counts() -> None:
    ours, public = Metrics(), Metrics()
    for amount in (0.0, 0.05, 0.07, 0.1, 0.25, 1.0, 599.9, 600.0, 600.1, 1e9):
        ours._run_seconds.observe(amount, "a")
        public.run_seconds.labels("a").observe(amount)
        ours._model_seconds.observe(amount, "a", "m")
        public.model_seconds.labels("a", "m").observe(amount)
    for amount in (1, 0, 2.5):
        ours._tokens.inc(amount, "a", "input")
        public.tokens.labels("a", "input").inc(amount)
    ours._active.inc(1, "a")
    ours._active.inc(-1, "a")
    ours._active.inc(1, "a")
    public.active.labels("a").inc()
    assert _series(ours) == _series(public)


def _series(metrics: Metrics) -> list[str]:
    """The agenthost series of a scrape, without their creation times."""
    lines = metrics.render().decode().splitlines()
    return [x for x in lines if x.startswith("agenthost_") and "_created" not in x]


def test_a_counter_still_refuses_a_negative_amount() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match="non-negative"):
        metrics._tokens.inc(-1, "a", "input")
    metrics._active.inc(-1, "a")  # a gauge may go down


class _Untakeable:
    """A lock that fails the test when taken."""

    def __enter__(self) -> None:
        raise AssertionError("the lock was taken")

    def __exit__(self, *_: object) -> None:
        pass


class _Recorded:
    """A value of another kind (prometheus' multiprocess mode): its own `inc`."""

    def __init__(self) -> None:
        self.added: list[float] = []

    def inc(self, amount: float) -> None:
        self.added.append(amount)


def test_the_loop_s_updates_take_no_lock_and_other_values_their_own_inc() -> None:
    metrics = Metrics()
    metrics._tokens.inc(1, "a", "input")
    value = metrics.tokens.labels("a", "input")._value
    value._lock = _Untakeable()
    metrics._tokens.inc(2, "a", "input")
    assert value._value == 3
    metrics._run_seconds.observe(0.07, "a")
    child = metrics.run_seconds.labels("a")
    for each in (child._sum, *child._buckets):
        each._lock = _Untakeable()
    metrics._run_seconds.observe(0.07, "a")
    assert child._sum._value == pytest.approx(0.14) and child._buckets[1]._value == 2

    other = metrics._cost.values[("a",)] = _Recorded()
    metrics._cost.inc(0.5, "a")
    total, bucket = _Recorded(), _Recorded()
    metrics._model_seconds.series[("a", "m")] = (total, [bucket] * 14)
    metrics._model_seconds.observe(0.3, "a", "m")
    assert other.added == [0.5] and total.added == [0.3] and bucket.added == [1]
