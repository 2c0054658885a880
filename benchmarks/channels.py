"""Channels: messages per second from a webhook input to a stdout output, and the latency the
channel runtime adds to a direct Runner call (target: at most 1 ms per message).

- throughput: `messages` signed JSON POSTs over real HTTP on 127.0.0.1 (64 senders, one
  conversation per sender, in order), through the runtime (validation, the inbox, a run on
  the fake model, the outbox) to a stdout output writing to /dev/null; from the first POST
  to the last reply written. Memory and SQLite stores.
- added latency: one message at a time; through the runtime (submit -> the output's send)
  against `runner.run` of the same agent and store; the median of each, subtracted.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, ClassVar

import aiohttp
import msgspec

from agenthost import LLMAgent, Runner, open_session_store
from agenthost.channels import (
    ChannelRuntime,
    InputClient,
    OutputClient,
    Sink,
    StdoutOutput,
    WebhookInput,
)
from agenthost.channels.signing import sign
from agenthost.ports.channels import Delivery, InboundMessage
from agenthost.testing import FunctionModel
from benchmarks._common import Outcome, Row, Settings, limited, median

WORKLOAD = "channels"
MAX_ADDED_MS = 1.0


def _agent() -> LLMAgent:
    return LLMAgent(model=FunctionModel(lambda messages, tools: "ok"))


class _Probe(InputClient):
    platform: ClassVar[str] = "probe"

    def __init__(self) -> None:
        super().__init__()
        self.sink: Sink | None = None
        self.ready = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        self.sink = sink
        self.ready.set()
        await asyncio.Event().wait()


class _Timed(OutputClient):
    platform: ClassVar[str] = "timed"

    def __init__(self) -> None:
        super().__init__(name="probe")
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def send(self, delivery: Delivery) -> None:
        future = self.waiting.pop(delivery.item.inbound_key[2], None)
        if future is not None:
            future.set_result(time.perf_counter())


class _Counting(StdoutOutput):
    """stdout into /dev/null; `done` is set after `expected` replies."""

    def __init__(self, stream: Any, expected: int) -> None:
        super().__init__(stream=stream)
        self.expected = expected
        self.done = asyncio.Event()

    async def send(self, delivery: Delivery) -> None:
        await super().send(delivery)
        self.expected -= 1
        if self.expected == 0:
            self.done.set()


async def _throughput(url: str, messages: int, senders: int, devnull: Any) -> float:
    hook = WebhookInput(secret="bench", port=0)
    per = messages // senders
    out = _Counting(devnull, per * senders)
    runtime = ChannelRuntime(
        inputs=[hook],
        outputs=[out],
        reply_to={"webhook": "stdout"},
        agent=_agent(),
        store=url,
        concurrency=64,
        queue_size=1024,
        handle_signals=False,
    )
    task = asyncio.create_task(runtime.run())
    await runtime.started.wait()
    await hook.listening.wait()
    endpoint = f"http://127.0.0.1:{hook.port}/"

    async def send(session: aiohttp.ClientSession, conv: int) -> None:
        for k in range(per):
            body = msgspec.json.encode({"id": str(k), "conversation": f"c{conv}", "text": "hi"})
            async with session.post(endpoint, data=body, headers=sign("bench", body)) as r:
                assert r.status == 202, r.status

    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(send(session, c) for c in range(senders)))
        await out.done.wait()
        elapsed = time.perf_counter() - start
    runtime.stop()
    await task
    return per * senders / elapsed


async def _added_latency(count: int) -> tuple[float, float]:
    """(median ms through the runtime, median ms of a direct runner.run)."""
    probe, timed = _Probe(), _Timed()
    runtime = ChannelRuntime(
        inputs=[probe],
        outputs=[timed],
        agent=_agent(),
        store="memory://",
        handle_signals=False,
    )
    task = asyncio.create_task(runtime.run())
    await probe.ready.wait()
    assert probe.sink is not None
    through: list[float] = []
    loop = asyncio.get_running_loop()
    for i in range(count):
        future: asyncio.Future[float] = loop.create_future()
        timed.waiting[str(i)] = future
        start = time.perf_counter()
        await probe.sink.submit(InboundMessage(id=str(i), conversation=f"r{i}", text="hi"))
        through.append((await future) - start)
    runtime.stop()
    await task
    direct: list[float] = []
    async with open_session_store("memory://") as store, Runner(_agent(), store=store) as runner:
        for i in range(count):
            start = time.perf_counter()
            async for _ in runner.run("u", f"d{i}", "hi"):
                pass
            direct.append(time.perf_counter() - start)
    warm = count // 5
    return median(through[warm:]) * 1000, median(direct[warm:]) * 1000


def run(settings: Settings) -> Outcome:
    out = Outcome()
    messages = 640 if settings.quick else 6400
    count = 100 if settings.quick else 1000
    for store, url in (("memory", "memory://"), ("sqlite", None)):
        if url is None:
            import tempfile

            folder = tempfile.mkdtemp(prefix="agenthost-bench-channels-")
            url = f"sqlite:///{folder}/channels.db"
        with open(os.devnull, "w") as devnull:
            rate = asyncio.run(_throughput(url, messages, 64, devnull))
        out.rows.append(
            Row(
                workload=WORKLOAD,
                variant=f"webhook -> stdout, {messages} messages, 64 senders",
                store=store,
                value=round(rate, 1),
                unit="msg/s",
                note="messages per second over HTTP on 127.0.0.1 (higher is better)",
            )
        )
        out.details[f"throughput_{store}"] = rate
    runtime_ms, direct_ms = asyncio.run(_added_latency(count))
    added = runtime_ms - direct_ms
    out.rows.append(
        limited(
            workload=WORKLOAD,
            variant="added latency per message (runtime - direct runner.run)",
            store="memory",
            value=round(added, 3),
            unit="ms",
            limit=MAX_ADDED_MS,
            note=f"through the runtime {runtime_ms:.3f} ms, direct {direct_ms:.3f} ms",
        )
    )
    out.details["latency"] = {"runtime_ms": runtime_ms, "direct_ms": direct_ms}
    return out


def main() -> None:  # `python -m benchmarks.channels`
    for row in run(Settings(quick=True)).rows:
        print(row.as_dict())


if __name__ == "__main__":
    main()
