"""ChannelRuntime: ordering, concurrency, backpressure, dedup, validation, retries,
supervision, routing, splitting, streaming edits, stop and restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agenthost import open_session_store
from agenthost.channels import ChannelRuntime, DeliveryRetry, OutputLimits, Route
from agenthost.core.errors import ConfigError, DeliveryFailed
from agenthost.ports.channels import Delivery, InboundMessage
from tests.unit.channels.conftest import FeedInput, RecordingOutput, echo_agent

FAST_RETRY = DeliveryRetry(base=0.001, max_delay=0.005, jitter=0.0, max_attempts=4)


@contextlib.asynccontextmanager
async def running(runtime: ChannelRuntime) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(runtime.run())
    started = asyncio.create_task(runtime.started.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if task.done():
        task.result()
    try:
        yield task
    finally:
        runtime.stop()
        await task


def make(
    feed: FeedInput,
    out: RecordingOutput,
    agent: Any = None,
    store: Any = "memory://",
    **kw: Any,
) -> ChannelRuntime:
    kw.setdefault("retry", FAST_RETRY)
    return ChannelRuntime(
        inputs=[feed],
        outputs=[out],
        agent=agent or echo_agent(),
        store=store,
        handle_signals=False,
        **kw,
    )


async def check_the_next_process_answers(url: str) -> None:
    """The next runtime on store `url` runs the messages "one" and "two" of conversation "a",
    which a stopped runtime left unanswered, again: in order, each answered once."""
    from agenthost.backends.sessions.channel_store import channel_store_for

    feed, out = FeedInput(), RecordingOutput()
    runtime = make(feed, out, store=url)
    async with running(runtime):
        await out.wait_sent(2)
        await runtime.wait_idle()
    assert out.texts("a") == ["echo: one", "echo: two"]
    async with open_session_store(url) as store:
        counts = await channel_store_for(store).counts()
    assert counts["inbox_pending"] == 0 and counts["delivered"] == 2


async def test_creating_starts_nothing_and_names_must_be_unique(
    feed: FeedInput, out: RecordingOutput
) -> None:
    make(feed, out)
    assert feed.runs == 0
    with pytest.raises(ConfigError, match="two clients are named 'feed'"):
        ChannelRuntime(inputs=[feed, FeedInput()], agent=echo_agent(), store="memory://")
    with pytest.raises(ConfigError, match="unknown output 'nowhere'"):
        ChannelRuntime(inputs=[feed], routes=[Route(outputs=("nowhere",))], agent=echo_agent())


async def test_replies_go_back_in_order_per_conversation(
    feed: FeedInput, out: RecordingOutput
) -> None:
    runtime = make(feed, out)
    async with running(runtime):
        for conv in ("a", "b", "c"):
            for i in range(5):
                feed.put(conv, f"{conv}{i}")
        await out.wait_sent(15)
    for conv in ("a", "b", "c"):
        assert out.texts(conv) == [f"echo: {conv}{i}" for i in range(5)]
    counts = await runtime.store.counts()
    assert counts == {"inbox_pending": 0, "outbox_pending": 0, "delivered": 15, "failed": 0}


async def test_conversations_run_concurrently(feed: FeedInput, out: RecordingOutput) -> None:
    gate = asyncio.Event()
    runtime = make(feed, out, echo_agent(lambda t: gate.wait() if t == "slow" else None))
    async with running(runtime):
        feed.put("a", "slow")
        feed.put("b", "fast")
        await out.wait_sent(1)  # b answered while a's run is still blocked
        assert out.texts() == ["echo: fast"]
        gate.set()
        await out.wait_sent(2)


async def test_bounded_queue_makes_inputs_wait(feed: FeedInput, out: RecordingOutput) -> None:
    gate = asyncio.Event()
    runtime = make(feed, out, echo_agent(lambda t: gate.wait()), queue_size=2)
    async with running(runtime):
        for i in range(3):
            feed.put(f"c{i}", "x")
        await feed.wait_results(2)
        await asyncio.sleep(0)  # the third submit is waiting for room, not answered
        assert feed.results == ["accepted", "accepted"] and runtime.in_flight() == 2
        gate.set()
        await feed.wait_results(3)
        await out.wait_sent(3)


async def test_duplicates_and_invalid_messages(feed: FeedInput, out: RecordingOutput) -> None:
    runtime = make(feed, out)
    async with running(runtime):
        feed.put("a", "hello", id="m1")
        feed.put("a", "hello again", id="m1")
        feed.put("a", "x" * 20_000, id="m2")
        feed.put("a", "   ", id="m3")
        feed.put("a", "\x00", id="")
        await feed.wait_results(5)
        await out.wait_sent(3)
    assert feed.results[:2] == ["accepted", "duplicate"]
    assert feed.results[2].startswith("invalid: text: has 20000 characters")
    assert feed.results[3] == "invalid: text: is empty"
    assert feed.results[4].startswith("invalid: id:")
    assert out.texts() == [
        "echo: hello",
        "Your message was not accepted: text: has 20000 characters; at most 16000 are allowed",
        "Your message was not accepted: text: is empty",
    ]
    status = runtime.statuses[("input", "feed")]
    assert (status.received, status.duplicates, status.rejected) == (1, 1, 3)


async def test_failed_deliveries_are_retried_then_given_up() -> None:
    feed = FeedInput()

    def fail(d: Delivery, attempt: int) -> DeliveryFailed | None:
        if "never" in d.item.text:
            return DeliveryFailed("refused", retryable=False)
        return DeliveryFailed("busy") if d.attempts < 2 else None  # fails twice each

    out = RecordingOutput(fail=fail)
    runtime = make(feed, out)
    async with running(runtime):
        feed.put("a", "first")
        feed.put("a", "second")
        feed.put("b", "never")
        await out.wait_sent(2)
        async with out.changed:
            await out.changed.wait_for(lambda: runtime.statuses[("output", "feed")].failed == 1)
    assert out.texts("a") == ["echo: first", "echo: second"]  # in order despite the retries
    status = runtime.statuses[("output", "feed")]
    assert (status.delivered, status.retried, status.failed) == (2, 4, 1)


async def test_a_dead_input_is_restarted(out: RecordingOutput) -> None:
    feed = FeedInput(crash_first=2)
    runtime = make(feed, out, restart_delay=0.001)
    async with running(runtime):
        feed.put("a", "after the crashes")
        await out.wait_sent(1)
    status = runtime.statuses[("input", "feed")]
    assert status.restarts == 2 and status.last_error == "RuntimeError: crash 2"
    assert feed.runs == 3


async def test_routes_and_splitting(feed: FeedInput) -> None:
    origin = RecordingOutput()
    x = RecordingOutput("x", max_chars=10)
    runtime = ChannelRuntime(
        inputs=[feed],
        outputs=[origin, x],
        routes=[Route(outputs=("x",), target="timeline")],
        agent=echo_agent(),
        store="memory://",
        handle_signals=False,
    )
    async with running(runtime):
        feed.put("a", "one two three four")
        await origin.wait_sent(1)
        await x.wait_sent(3)
    assert origin.texts("a") == ["echo: one two three four"]
    assert x.texts("timeline") == ["echo: one", "two three", "four"]
    assert [d.item.part for d in x.sent] == [0, 1, 2]


class EditingOutput(RecordingOutput):
    """A platform that can edit: records each edit."""

    platform: ClassVar[str] = "editing"

    def __init__(self) -> None:
        super().__init__()
        self.limits = OutputLimits(edit_interval=0.0)
        self.edits: list[str] = []

    async def open_stream(self, conversation: str, inbound: InboundMessage) -> Any:
        return f"msg-{conversation}"

    async def edit_stream(self, handle: Any, text: str) -> None:
        self.edits.append(text)


async def test_streamed_edits_then_the_final_text_as_an_edit(feed: FeedInput) -> None:
    from agenthost import LLMAgent
    from agenthost.testing import ScriptedModel

    out = EditingOutput()
    agent = LLMAgent(model=ScriptedModel(["Hello there, friend"]), stream=True)
    runtime = make(feed, out, agent)
    async with running(runtime):
        feed.put("a", "hi")
        await out.wait_sent(1)
    assert out.edits and out.edits[-1] == "Hello there, friend"
    assert out.sent[0].item.meta == {"edit": "msg-a"}


async def test_stop_interrupts_runs_and_a_restart_answers_them(
    tmp_path: Path, out: RecordingOutput
) -> None:
    url = f"sqlite:///{tmp_path}/ch.db"
    gate = asyncio.Event()
    feed = FeedInput()
    runtime = make(feed, out, echo_agent(lambda t: gate.wait()), store=url, grace=0.0)
    async with running(runtime):
        feed.put("a", "one")
        feed.put("a", "two")
        await feed.wait_results(2)
    assert out.sent == []
    await check_the_next_process_answers(url)


async def test_undelivered_replies_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ch.db"
    feed = FeedInput()
    down = RecordingOutput(fail=lambda d, n: DeliveryFailed("platform down"))
    runtime = make(feed, down, store=url, retry=DeliveryRetry(base=60, jitter=0), flush_timeout=0.5)
    async with running(runtime):
        feed.put("a", "hello")
        async with down.changed:
            await down.changed.wait_for(lambda: down.attempts >= 1)
    up = RecordingOutput()
    runtime2 = make(FeedInput(), up, store=url, retry=DeliveryRetry(base=60, jitter=0))
    # the retry is due in 60 s: the new process keeps that schedule; make it due now
    async with open_session_store(url) as store:
        store._connection().execute("UPDATE channel_outbox SET next_at = 0")
    async with running(runtime2):
        await up.wait_sent(1)
    assert up.texts() == ["echo: hello"]
    assert up.sent[0].attempts == 1  # the failed attempt before the restart counts


async def test_usage_is_recorded_per_message(tmp_path: Path, feed: FeedInput) -> None:
    out = RecordingOutput()
    runtime = make(feed, out, store=f"sqlite:///{tmp_path}/ch.db")
    async with running(runtime):
        feed.put("a", "hello")
        await out.wait_sent(1)
        runs = await runtime.store.runs()  # type: ignore[attr-defined]
    assert len(runs) == 1 and runs[0].status == "completed" and runs[0].run_id
