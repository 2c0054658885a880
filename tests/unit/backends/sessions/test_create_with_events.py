"""`create_with_events`: a new session and its first events in one write (the runner's new
session and user message), all or nothing, for the memory, SQLite, Postgres and MySQL stores
(the server stores skip without their server, and fail under CI=true)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import SessionBackend, open_session_store
from agenthost.core.errors import InvalidArgument, SessionExists
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey

from ....contract.server_stores import drop, private_url

KEY = SessionKey("app1", "alice", "s1")
Make = Callable[[], Awaitable[Any]]


@pytest.fixture(
    params=["memory://", "sqlite:///{tmp}/s.db", "postgres", "mysql"],
    ids=["memory", "sqlite", "postgres", "mysql"],
)
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Make]:
    server = request.param in ("postgres", "mysql")
    url = private_url(request.param)[0] if server else request.param
    url = url.replace("{tmp}", str(tmp_path))
    async with contextlib.AsyncExitStack() as stack:

        async def opened(**options: Any) -> SessionBackend:
            return await stack.enter_async_context(open_session_store(url, **options))

        yield opened
    if server:
        await drop(url)


def received(text: str = "hi", state_delta: dict[str, Any] | None = None) -> Event:
    return Event(
        id=new_id(),
        run_id="run_1",
        author="user",
        type="message.received",
        message=Message.user(text),
        state_delta=state_delta,
    )


async def test_creates_the_session_with_its_events_and_state(make: Make) -> None:
    store = await make()
    first = received(state_delta={"topic": "cats", "app:seen": 1, "temp:x": 2})
    session = await store.create_with_events(KEY, [first])
    assert [e.seq for e in session.events] == [1]
    assert session.state == {"topic": "cats", "app:seen": 1}
    assert session.key == KEY
    got = await store.get(KEY)
    assert got is not None and [e.id for e in got.events] == [first.id]
    await store.append(got, [received("again")])
    assert [e.seq for e in got.events] == [1, 2]
    other = await store.create(SessionKey("app1", "bob", "s2"))
    assert other.state == {"app:seen": 1}


async def test_refuses_an_existing_session_and_changes_nothing(make: Make) -> None:
    store = await make()
    await store.create(KEY, state={"topic": "dogs"})
    with pytest.raises(SessionExists):
        await store.create_with_events(KEY, [received(state_delta={"topic": "cats"})])
    got = await store.get(KEY)
    assert got is not None and got.events == [] and got.state == {"topic": "dogs"}


async def test_an_unstorable_event_creates_no_session(make: Make) -> None:
    store = await make()
    bad = received()
    bad.data = {"value": object()}
    with pytest.raises(InvalidArgument):
        await store.create_with_events(KEY, [bad])
    assert await store.get(KEY) is None
    assert (await store.create_with_events(KEY, [received()])).last_seq == 1


async def test_sqlite_a_second_store_sees_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    async with open_session_store(url) as one, open_session_store(url) as two:
        await one.create_with_events(KEY, [received(state_delta={"topic": "cats"})])
        got = await two.get(KEY)
        assert got is not None and got.state == {"topic": "cats"}
        assert [e.type for e in got.events] == ["message.received"]
        infos = await two.list(app="app1", user_id="alice")
        assert [i.event_count for i in infos] == [1]


async def test_an_expired_session_is_replaced(make: Make) -> None:
    now = [1_000_000.0]
    store = await make(ttl_seconds=60, clock=lambda: now[0])
    await store.create_with_events(KEY, [received("old")])
    with pytest.raises(SessionExists):
        await store.create_with_events(KEY, [received("again")])
    now[0] += 120
    session = await store.create_with_events(KEY, [received("new")])
    assert session.last_seq == 1
    got = await store.get(KEY)
    assert got is not None and [e.message.text for e in got.events if e.message] == ["new"]


async def test_max_events_keeps_the_newest(make: Make) -> None:
    store = await make(max_events=1)
    first, second = received("one"), received("two")
    session = await store.create_with_events(KEY, [first, second])
    assert [e.id for e in session.events] == [second.id]
    got = await store.get(KEY)
    assert got is not None and [e.id for e in got.events] == [second.id]
    assert got.last_seq == 2
