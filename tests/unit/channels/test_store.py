"""The ChannelStore port, one suite over every backend (memory, SQLite, and the servers:
Postgres, MySQL/MariaDB, Redis on 127.0.0.1, see tests/contract/server_stores.py; a server
that does not answer is skipped on a laptop and fails the run under CI=true)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agenthost import open_session_store
from agenthost.backends.sessions.channel_store import channel_store_for
from agenthost.core.errors import ConfigError
from agenthost.ports.channels import ChannelStore, InboundMessage, OutboxItem, RunRecord

from ...contract.server_stores import drop, private_url

SERVERS = ["postgres", "mysql", "redis"]


@pytest.fixture(params=["memory", "sqlite", *SERVERS])
async def cstore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChannelStore]:
    if request.param in SERVERS:
        url, _ = private_url(request.param)
        try:
            async with open_session_store(url) as store:
                yield channel_store_for(store)
        finally:
            await drop(url)
        return
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/c.db"
    async with open_session_store(url) as store:
        yield channel_store_for(store)


def msg(conv: str, mid: str, text: str = "hi") -> InboundMessage:
    return InboundMessage(id=mid, conversation=conv, text=text, input="in", platform="t")


def item(conv: str, mid: str, text: str, output: str = "out", part: int = 0) -> OutboxItem:
    return OutboxItem(
        output=output, target=conv, text=text, inbound_key=("in", conv, mid), part=part
    )


async def test_accept_remembers_ids(cstore: ChannelStore) -> None:
    assert await cstore.accept(msg("a", "1"))
    assert not await cstore.accept(msg("a", "1", "other text"))
    assert await cstore.accept(msg("b", "1"))  # ids are per conversation
    pending = await cstore.pending()
    assert [(e.message.conversation, e.message.id) for e in pending] == [("a", "1"), ("b", "1")]
    assert pending[0].message.text == "hi"


async def test_finish_queues_once_and_marks_done(cstore: ChannelStore) -> None:
    await cstore.accept(msg("a", "1"))
    items = [item("a", "1", "part 0"), item("a", "1", "part 1", part=1)]
    await cstore.finish(("in", "a", "1"), items, RunRecord(run_id="r", status="completed"))
    await cstore.finish(("in", "a", "1"), items, None)  # a repeat queues nothing
    assert await cstore.pending() == []
    counts = await cstore.counts()
    assert counts == {"inbox_pending": 0, "outbox_pending": 2, "delivered": 0, "failed": 0}


async def test_due_gives_each_targets_oldest_part(cstore: ChannelStore) -> None:
    for mid in ("1", "2"):
        await cstore.accept(msg("a", mid))
        await cstore.finish(("in", "a", mid), [item("a", mid, f"a{mid}")], None)
    await cstore.accept(msg("b", "1"))
    await cstore.finish(
        ("in", "b", "1"), [item("b", "1", "b1"), item("b", "1", "x", "other")], None
    )
    due = await cstore.due("out", now=10.0)
    assert [d.item.text for d in due] == ["a1", "b1"]
    assert [d.item.text for d in await cstore.due("out", now=math.inf)] == ["a1", "b1"]
    first = due[0]
    await cstore.update(first.id, status="pending", attempts=1, next_at=20.0, error="busy")
    # a1 waits for its retry: a2 must not overtake it
    assert [d.item.text for d in await cstore.due("out", now=10.0)] == ["b1"]
    again = await cstore.due("out", now=30.0)
    assert again[0].item.text == "a1" and again[0].attempts == 1 and again[0].last_error == "busy"
    assert again[0].key == first.key
    await cstore.update(first.id, status="delivered", attempts=2)
    assert [d.item.text for d in await cstore.due("out", now=30.0)] == ["a2", "b1"]
    await cstore.update(due[1].id, status="failed", attempts=1, error="gone")
    counts = await cstore.counts()
    assert (counts["delivered"], counts["failed"], counts["outbox_pending"]) == (1, 1, 2)


@pytest.mark.parametrize("name", ["sqlite", *SERVERS])
async def test_a_store_keeps_everything_across_a_reopen(name: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db" if name == "sqlite" else private_url(name)[0]
    try:
        await _keeps_everything(url)
    finally:
        if name != "sqlite":
            await drop(url)


async def _keeps_everything(url: str) -> None:
    async with open_session_store(url) as store:
        cs = channel_store_for(store)
        await cs.accept(msg("a", "1"))
        await cs.accept(msg("a", "2"))
        await cs.finish(("in", "a", "1"), [item("a", "1", "r1")], None)
    async with open_session_store(url) as store:
        cs = channel_store_for(store)
        assert not await cs.accept(msg("a", "1"))
        assert [e.message.id for e in await cs.pending()] == ["2"]
        assert [d.item.text for d in await cs.due("out", now=1e12)] == ["r1"]


async def test_other_stores_say_what_to_use() -> None:
    with pytest.raises(ConfigError, match=r"channel_store="):
        channel_store_for(object())


@pytest.mark.parametrize("name", SERVERS)
async def test_the_runtime_on_a_server_store_answers_after_a_restart(name: str) -> None:
    """The channel runtime on Postgres/MySQL/Redis (it used to refuse them): two messages
    stopped mid-run are run again by the next runtime, in order, each answered once."""
    import asyncio

    from tests.unit.channels.conftest import FeedInput, RecordingOutput, echo_agent
    from tests.unit.channels.test_runtime import check_the_next_process_answers, make, running

    url, _ = private_url(name)
    try:
        started, gate = asyncio.Event(), asyncio.Event()

        async def hold(text: str) -> None:
            started.set()
            await gate.wait()

        feed, out = FeedInput(), RecordingOutput()
        runtime = make(feed, out, echo_agent(hold), store=url, grace=0.0)
        async with running(runtime):
            feed.put("a", "one")
            feed.put("a", "two")
            await feed.wait_results(2)
            # stopped once the run is going: a stop that lands while the run is still taking
            # its session's lease does not reach it yet (ChannelRuntime._drain cancels the
            # runs already active in the Runner only)
            await started.wait()
        assert out.sent == []
        await check_the_next_process_answers(url)
    finally:
        await drop(url)
