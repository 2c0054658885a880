"""The run streams (ports/streams.py) on real Redis: frames by position, read live and
resumed, idempotent publishing, meta, and the cancel signal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from agenthost.backends.streams import open_run_streams
from agenthost.backends.streams.redis import RedisRunStreams
from agenthost.core.errors import ConfigError
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.ports.streams import RunStreams

from .server_stores import server_url


@pytest.fixture
async def streams() -> AsyncIterator[RedisRunStreams]:
    url = f"{server_url('redis')}?key_prefix=t{uuid.uuid4().hex[:10]}:&maxlen=1000"
    async with open_run_streams(url) as opened:
        yield opened
        await opened.drop()


def event(kind: str = "message.delta", seq: int = 0) -> Event:
    return Event(id=new_id(), run_id="r1", author="a", type=kind, seq=seq)


async def test_frames_by_position_resume_and_idempotent_publish(streams: RedisRunStreams) -> None:
    assert isinstance(streams, RunStreams)
    first = [((1, 0), event("message.received", 1)), ((1, 1), event()), ((1, 2), event())]
    await streams.publish("r1", first)
    await streams.publish("r1", first[:2])  # again (a recovered run): nothing is added
    got = await streams.read("r1", after=(-1, 0), block=None)
    assert [(p, e.id) for p, e in got] == [(p, e.id) for p, e in first]
    assert await streams.first("r1") == (1, 0)
    resumed = await streams.read("r1", after=(1, 1), block=None)
    assert [p for p, _ in resumed] == [(1, 2)]
    assert await streams.read("r1", after=(1, 2), block=0.05) == []  # nothing new in time

    async def later() -> None:
        await streams.publish("r1", [((2, 0), event("run.completed", 2))])

    waiting = asyncio.create_task(streams.read("r1", after=(1, 2), block=30))
    await asyncio.sleep(0)
    await later()
    live = await waiting
    assert [(p, e.type) for p, e in live] == [((2, 0), "run.completed")]
    assert await streams.first("nope") is None


async def test_meta_and_cancel(streams: RedisRunStreams) -> None:
    assert await streams.meta("r1") is None
    await streams.describe("r1", {"agent": "a", "user_id": "u", "session_id": "s", "status": "q"})
    assert await streams.meta("r1") == {
        "agent": "a",
        "user_id": "u",
        "session_id": "s",
        "status": "q",
    }
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    subscribed = asyncio.Event()

    async def listen() -> None:
        cancels = streams.cancels()
        subscribed.set()
        async for item in cancels:
            await heard.put(item)

    task = asyncio.create_task(listen())
    await subscribed.wait()
    assert await streams.cancel_requested("r1") is None
    # the subscription is made inside the generator: send until it is heard
    async with asyncio.timeout(30):
        while heard.empty():
            await streams.cancel("r1", "stop it")
            try:
                await asyncio.wait_for(heard.get(), 0.2)
                break
            except TimeoutError:
                continue
    task.cancel()
    assert await streams.cancel_requested("r1") == "stop it"


def test_only_redis_urls() -> None:
    with pytest.raises(ConfigError, match="redis://"):
        open_run_streams("postgresql://h/db")
