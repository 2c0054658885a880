"""`agenthost serve` with the config's `channels:` in the same process.

`ServedChannels(section, agent)` gives the app's `on_startup` / `on_shutdown` hooks: at start
it builds a ChannelRuntime over the server's runner of `agent` (the signals stay the
server's: stopping the server stops the channels, then the runs); `/readyz` reports an input
that is restarting or failed (503, and every client's state in `channels`), and `/metrics`
has `agenthost_channel_*` series per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from agenthost.channels.runtime import ChannelRuntime
    from agenthost.config.channels import ChannelsConfig
    from agenthost.server.state import ServerState

log = logging.getLogger("agenthost.server")

_UNHEALTHY = ("restarting", "failed")


class ServedChannels:
    """The channels of a config, run by the server's lifespan (see the module doc)."""

    def __init__(self, section: ChannelsConfig, agent: str) -> None:
        self.section = section
        self.agent = agent
        self.runtime: ChannelRuntime | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, state: ServerState) -> None:
        from agenthost.channels._build import build_channel_runtime

        runtime = build_channel_runtime(
            self.section, state.runner(self.agent), handle_signals=False
        )
        self.runtime = runtime
        self._task = asyncio.create_task(runtime.run(), name="agenthost-channels")
        started = asyncio.create_task(runtime.started.wait())
        await asyncio.wait({self._task, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if self._task.done():
            self._task.result()  # a failure to start is the server's failure to start
        state.extras["channels"] = self
        state.metrics.registry.register(_Collector(runtime))
        for s in runtime.status():
            log.info("channel %s %s (%s): %s", s.direction, s.name, s.describe, s.state)

    async def stop(self, state: ServerState) -> None:
        if self.runtime is None or self._task is None:
            return
        self.runtime.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def problems(self) -> list[str]:
        if self.runtime is None:
            return ["channels not started"]
        return [
            f"channel {s.direction} {s.name} is {s.state}: {s.last_error}"
            for s in self.runtime.status()
            if s.state in _UNHEALTHY
        ]

    def report(self) -> list[dict[str, Any]]:
        return [] if self.runtime is None else [s.as_dict() for s in self.runtime.status()]


class _Collector:
    """Channel series, read from the runtime's statuses at scrape time."""

    def __init__(self, runtime: ChannelRuntime) -> None:
        self.runtime = runtime

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        labels = ["name", "direction", "platform"]
        up = GaugeMetricFamily(
            "agenthost_channel_up", "1 when the channel client is running.", labels=labels
        )
        restarts = CounterMetricFamily(
            "agenthost_channel_restarts", "Restarts of a channel client.", labels=labels
        )
        messages = CounterMetricFamily(
            "agenthost_channel_messages",
            "Incoming messages by result.",
            labels=["name", "result"],
        )
        deliveries = CounterMetricFamily(
            "agenthost_channel_deliveries",
            "Reply parts by result (delivered, retried, failed).",
            labels=["name", "result"],
        )
        for s in self.runtime.status():
            key = [s.name, s.direction, s.platform]
            up.add_metric(key, 1.0 if s.state == "running" else 0.0)
            restarts.add_metric(key, s.restarts)
            if s.direction == "input":
                messages.add_metric([s.name, "accepted"], s.received)
                messages.add_metric([s.name, "duplicate"], s.duplicates)
                messages.add_metric([s.name, "invalid"], s.rejected)
            else:
                deliveries.add_metric([s.name, "delivered"], s.delivered)
                deliveries.add_metric([s.name, "retried"], s.retried)
                deliveries.add_metric([s.name, "failed"], s.failed)
        yield from (up, restarts, messages, deliveries)
