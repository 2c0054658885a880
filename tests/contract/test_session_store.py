"""One contract for every session store backend.

Each backend is a `Backend` param of the `backend` fixture; a later backend (Postgres, MySQL,
Redis) adds one `pytest.param(Backend(...), id=..., marks=...)` and must pass everything here.
`persistent` backends can be opened a second time on the same storage: the tests that check
what was really stored (not just the objects in this process) read through a second store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import SessionBackend, open_session_store
from agenthost.core.errors import InvalidArgument, SessionNotFound, StoreError
from agenthost.core.events import ErrorInfo, Event
from agenthost.core.ids import new_id
from agenthost.core.messages import (
    FilePart,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from agenthost.core.session import Session, SessionKey
from agenthost.core.usage import Usage
from agenthost.ports.sessions import KeyValueStore, SessionStore

from .server_stores import drop, private_url


@dataclass(frozen=True)
class Backend:
    name: str
    url: str  # "{tmp}" is replaced with the test's tmp_path; "{server}": see server_stores.py
    persistent: bool  # a second store on the same URL sees the same data


BACKENDS = [
    pytest.param(Backend("memory", "memory://", persistent=False), id="memory"),
    pytest.param(
        Backend("sqlite", "sqlite:///{tmp}/sessions.db", persistent=True), id="sqlite-file"
    ),
    pytest.param(Backend("sqlite", "sqlite://:memory:", persistent=False), id="sqlite-memory"),
    *(
        pytest.param(Backend(name, "{server}", persistent=True), id=name)
        for name in ("postgres", "mysql", "redis")
    ),
]

MakeStore = Callable[..., Awaitable[SessionBackend]]


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    b: Backend = request.param
    if b.url != "{server}":
        yield Backend(b.name, b.url.replace("{tmp}", str(tmp_path)), b.persistent)
        return
    url, _ = private_url(b.name)  # skips (fails under CI=true) when the server is down
    yield Backend(b.name, url, b.persistent)
    await drop(url)


@pytest.fixture
async def make_store(backend: Backend) -> AsyncIterator[MakeStore]:
    """Open a store on the backend's URL with options; every store is closed at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**options: Any) -> SessionBackend:
            return await stack.enter_async_context(open_session_store(backend.url, **options))

        yield make


@pytest.fixture
async def store(make_store: MakeStore) -> SessionBackend:
    return await make_store()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Reread = Callable[[], Awaitable[SessionBackend | None]]


@pytest.fixture
def reread(backend: Backend, make_store: MakeStore) -> Reread:
    """A second store on the same storage, to check what was really stored; None when the
    backend cannot be opened twice (its data lives in the first store's process memory)."""

    async def second() -> SessionBackend | None:
        return await make_store() if backend.persistent else None

    return second


KEY = SessionKey("app1", "alice", "s1")


def event(
    text: str | None = "hello",
    *,
    type: Any = "message.completed",
    state_delta: dict[str, Any] | None = None,
    partial: bool = False,
) -> Event:
    return Event(
        id=new_id(),
        run_id="run_1",
        author="agent",
        type=type,
        partial=partial,
        message=Message.assistant(text) if text is not None else None,
        state_delta=state_delta,
    )


def rich_events() -> list[Event]:
    """Events using every field and every message part kind."""
    user = Message(
        role="user",
        parts=(
            TextPart(text='héllo ✓ 世界 \n\t"quoted"'),
            ImagePart(url="https://example.com/cat.png"),
            ImagePart(data=b"\x89PNG\r\n\x1a\n\x00\xff", mime_type="image/png"),
            FilePart(data=bytes(range(256)), name="blob.bin"),
            FilePart(url="s3://bucket/key.txt", mime_type="text/plain", name=None),
        ),
    )
    return [
        Event(
            id=new_id(),
            run_id="run_a",
            author="user",
            type="message.received",
            timestamp=1_700_000_000.123456,
            message=user,
        ),
        Event(
            id=new_id(),
            run_id="run_a",
            author="agent",
            type="message.completed",
            message=Message.assistant(
                "let me look",
                tool_calls=(ToolCallPart(id="call_1", name="search", arguments='{"q": "x"}'),),
            ),
            usage=Usage(input_tokens=120, output_tokens=7, requests=1, cost=0.000123),
        ),
        Event(
            id=new_id(),
            run_id="run_a",
            author="agent",
            type="tool.call.completed",
            message=Message.tool(
                ToolResultPart(tool_call_id="call_1", name="search", content="boom", is_error=True)
            ),
            data={"tool": "search", "elapsed": 0.25, "nested": {"a": [1, 2.5, {"b": None}]}},
            state_delta={"found": 3},
        ),
        Event(
            id=new_id(),
            run_id="run_a",
            author="runner",
            type="run.failed",
            error=ErrorInfo(code="model_timeout", message="too slow", retryable=True),
            usage=Usage(input_tokens=1, output_tokens=2, requests=3, cost=1.5),
            data={"status": "failed"},
        ),
    ]


# ---- protocol -----------------------------------------------------------------------------


async def test_implements_both_ports(store: SessionBackend) -> None:
    assert isinstance(store, SessionStore)
    assert isinstance(store, KeyValueStore)


# ---- create / get -------------------------------------------------------------------------


async def test_create_then_get(store: SessionBackend) -> None:
    created = await store.create(KEY, state={"topic": "cats"})
    assert created.key == KEY
    assert created.events == []
    assert created.state == {"topic": "cats"}
    got = await store.get(KEY)
    assert got is not None
    assert got.key == KEY
    assert got.events == []
    assert got.state == {"topic": "cats"}
    assert got.created_at == created.created_at
    assert got.updated_at == created.updated_at


async def test_get_missing_is_none(store: SessionBackend) -> None:
    assert await store.get(KEY) is None
    await store.create(KEY)
    assert await store.get(SessionKey("app1", "alice", "other")) is None
    assert await store.get(SessionKey("app1", "bob", "s1")) is None
    assert await store.get(SessionKey("app2", "alice", "s1")) is None


async def test_create_twice_is_an_error(store: SessionBackend) -> None:
    await store.create(KEY)
    with pytest.raises(InvalidArgument) as info:
        await store.create(KEY)
    assert info.value.field == "session_id"
    assert "s1" in str(info.value)


async def test_create_uses_clock(make_store: MakeStore, clock: FakeClock) -> None:
    store = await make_store(clock=clock)
    session = await store.create(KEY)
    assert session.created_at == session.updated_at == clock.now


async def test_get_returns_the_same_session_again(store: SessionBackend) -> None:
    await store.create(KEY)
    first = await store.get(KEY)
    assert first is not None
    await store.append(first, [event("a")])
    second = await store.get(KEY)
    assert second is not None
    assert [e.seq for e in second.events] == [1]
    assert second.events == first.events


# ---- append -------------------------------------------------------------------------------


async def test_append_assigns_seq_in_order(store: SessionBackend) -> None:
    session = await store.create(KEY)
    batch1 = [event("a"), event("b")]
    await store.append(session, batch1)
    assert [e.seq for e in batch1] == [1, 2]  # assigned on the caller's events
    await store.append(session, [event("c")])
    await store.append(session, [event("d"), event("e"), event("f")])
    assert [e.seq for e in session.events] == [1, 2, 3, 4, 5, 6]  # updated in place
    assert session.last_seq == 6
    got = await store.get(KEY)
    assert got is not None
    assert [e.seq for e in got.events] == [1, 2, 3, 4, 5, 6]
    assert [e.message.text for e in got.events if e.message] == ["a", "b", "c", "d", "e", "f"]


async def test_append_updates_updated_at(make_store: MakeStore, clock: FakeClock) -> None:
    store = await make_store(clock=clock)
    session = await store.create(KEY)
    clock.advance(5)
    await store.append(session, [event()])
    assert session.updated_at == clock.now
    got = await store.get(KEY)
    assert got is not None
    assert got.updated_at == clock.now
    assert got.created_at == clock.now - 5


async def test_append_nothing_is_a_no_op(store: SessionBackend) -> None:
    session = await store.create(KEY)
    await store.append(session, [])
    assert session.events == []


async def test_events_round_trip_exactly(store: SessionBackend, reread: Reread) -> None:
    session = await store.create(KEY)
    originals = rich_events()
    await store.append(session, originals[:2])
    await store.append(session, originals[2:])
    got = await store.get(KEY)
    assert got is not None
    assert got.events == originals
    assert got.state == {"found": 3}
    other = await reread()
    if other is not None:
        fresh = await other.get(KEY)
        assert fresh is not None
        assert fresh is not got
        assert fresh.events == originals
        assert fresh.state == {"found": 3}
        message = fresh.events[0].message
        assert message is not None
        image = message.parts[2]
        assert isinstance(image, ImagePart)
        assert image.data == b"\x89PNG\r\n\x1a\n\x00\xff"


async def test_partial_event_is_refused(store: SessionBackend) -> None:
    session = await store.create(KEY)
    delta = event("par", type="message.delta", partial=True)
    with pytest.raises(InvalidArgument) as info:
        await store.append(session, [event("ok"), delta])
    assert info.value.field == "events[1]"
    assert session.events == []
    got = await store.get(KEY)
    assert got is not None
    assert got.events == []


async def test_append_to_missing_session(store: SessionBackend) -> None:
    ghost = Session(app=KEY.app, user_id=KEY.user_id, id=KEY.session_id)
    with pytest.raises(SessionNotFound) as info:
        await store.append(ghost, [event()])
    assert info.value.session_id == "s1"


async def test_append_to_deleted_session(store: SessionBackend) -> None:
    session = await store.create(KEY)
    await store.append(session, [event()])
    await store.delete(KEY)
    with pytest.raises(SessionNotFound):
        await store.append(session, [event()])


async def test_append_with_a_session_object_from_elsewhere(store: SessionBackend) -> None:
    """A Session that is not the one the store handed out is still updated in place."""
    await store.create(KEY)
    copy = Session(app=KEY.app, user_id=KEY.user_id, id=KEY.session_id)
    await store.append(copy, [event("a", state_delta={"k": 1})])
    assert [e.seq for e in copy.events] == [1]
    assert copy.state == {"k": 1}
    got = await store.get(KEY)
    assert got is not None
    assert [e.seq for e in got.events] == [1]
    assert got.state == {"k": 1}


# ---- state scopes -------------------------------------------------------------------------


async def test_initial_state_scopes(store: SessionBackend, reread: Reread) -> None:
    state = {"app:theme": "dark", "user:lang": "en", "count": 1, "temp:scratch": "x"}
    session = await store.create(KEY, state=state)
    expected = {"app:theme": "dark", "user:lang": "en", "count": 1}
    assert session.state == expected
    sibling = await store.create(SessionKey("app1", "alice", "s2"))
    assert sibling.state == {"app:theme": "dark", "user:lang": "en"}
    if (other := await reread()) is not None:
        fresh = await other.get(KEY)
        assert fresh is not None
        assert fresh.state == expected


async def test_app_state_is_shared_by_the_app(store: SessionBackend) -> None:
    alice = await store.create(KEY)
    bob = await store.create(SessionKey("app1", "bob", "b1"))
    stranger = await store.create(SessionKey("app2", "alice", "s1"))
    await store.append(alice, [event(state_delta={"app:motd": "hi all"})])
    assert alice.state == {"app:motd": "hi all"}
    got_bob = await store.get(bob.key)
    assert got_bob is not None
    assert got_bob.state == {"app:motd": "hi all"}
    got_stranger = await store.get(stranger.key)
    assert got_stranger is not None
    assert got_stranger.state == {}
    # and a session created later sees it too
    late = await store.create(SessionKey("app1", "carol", "c1"))
    assert late.state == {"app:motd": "hi all"}


async def test_user_state_is_shared_by_the_users_sessions(store: SessionBackend) -> None:
    s1 = await store.create(KEY)
    s2 = await store.create(SessionKey("app1", "alice", "s2"))
    await store.get(s2.key)  # handed out (and cached, where a store caches) before the change
    bob = await store.create(SessionKey("app1", "bob", "s1"))
    other_app = await store.create(SessionKey("app2", "alice", "s1"))
    await store.append(s1, [event(state_delta={"user:name": "Alice"})])
    got = await store.get(s2.key)
    assert got is not None
    assert got.state == {"user:name": "Alice"}
    for key in (bob.key, other_app.key):
        unrelated = await store.get(key)
        assert unrelated is not None
        assert unrelated.state == {}


async def test_session_state_is_private(store: SessionBackend) -> None:
    s1 = await store.create(KEY)
    s2 = await store.create(SessionKey("app1", "alice", "s2"))
    await store.append(s1, [event(state_delta={"step": 2})])
    got1 = await store.get(s1.key)
    got2 = await store.get(s2.key)
    assert got1 is not None and got2 is not None
    assert got1.state == {"step": 2}
    assert got2.state == {}


async def test_temp_state_is_never_stored(store: SessionBackend, reread: Reread) -> None:
    session = await store.create(KEY, state={"temp:a": 1})
    sent = event(state_delta={"temp:scratch": [1, 2], "kept": True})
    await store.append(session, [sent])
    assert sent.state_delta == {"temp:scratch": [1, 2], "kept": True}  # caller's event untouched
    assert session.state == {"kept": True}
    assert session.events[0].state_delta == {"kept": True}
    got = await store.get(KEY)
    assert got is not None
    assert got.state == {"kept": True}
    assert got.events[0].state_delta == {"kept": True}
    only_temp = event(state_delta={"temp:x": 1})
    await store.append(session, [only_temp])
    assert session.events[1].state_delta is None
    if (other := await reread()) is not None:
        fresh = await other.get(KEY)
        assert fresh is not None
        assert fresh.state == {"kept": True}
        assert [e.state_delta for e in fresh.events] == [{"kept": True}, None]


async def test_state_deltas_apply_in_order_and_none_deletes(
    store: SessionBackend, reread: Reread
) -> None:
    session = await store.create(KEY, state={"a": 1, "app:x": 1, "user:y": 1})
    await store.append(
        session,
        [
            event(state_delta={"a": 2, "b": 1, "app:x": 2}),
            event(state_delta={"a": 3, "user:y": 2, "user:z": {"nested": [1]}}),
        ],
    )
    expected = {"a": 3, "b": 1, "app:x": 2, "user:y": 2, "user:z": {"nested": [1]}}
    assert session.state == expected
    await store.append(session, [event(state_delta={"b": None, "app:x": None, "user:y": None})])
    expected = {"a": 3, "user:z": {"nested": [1]}}
    assert session.state == expected
    got = await store.get(KEY)
    assert got is not None
    assert got.state == expected
    sibling = await store.create(SessionKey("app1", "alice", "s2"))
    assert sibling.state == {"user:z": {"nested": [1]}}
    if (other := await reread()) is not None:
        fresh = await other.get(KEY)
        assert fresh is not None
        assert fresh.state == expected


async def test_state_is_merged_when_read_through_another_session(store: SessionBackend) -> None:
    """The merged view of a session is current even when other sessions changed shared scopes."""
    a = await store.create(KEY, state={"mine": "a"})
    b = await store.create(SessionKey("app1", "alice", "s2"), state={"mine": "b"})
    await store.append(b, [event(state_delta={"user:n": 1, "app:m": 1})])
    await store.append(a, [event(state_delta={"user:n": 2})])
    got_a = await store.get(a.key)
    got_b = await store.get(b.key)
    assert got_a is not None and got_b is not None
    assert got_a.state == {"mine": "a", "user:n": 2, "app:m": 1}
    assert got_b.state == {"mine": "b", "user:n": 2, "app:m": 1}


# ---- list / delete ------------------------------------------------------------------------


async def test_list_newest_first(make_store: MakeStore, clock: FakeClock) -> None:
    store = await make_store(clock=clock)
    first = await store.create(KEY)
    clock.advance(1)
    await store.create(SessionKey("app1", "alice", "s2"))
    clock.advance(1)
    await store.create(SessionKey("app1", "alice", "s3"))
    listed = await store.list(app="app1", user_id="alice")
    assert [s.id for s in listed] == ["s3", "s2", "s1"]
    clock.advance(1)
    await store.append(first, [event(), event()])
    listed = await store.list(app="app1", user_id="alice")
    assert [s.id for s in listed] == ["s1", "s3", "s2"]
    top = listed[0]
    assert (top.app, top.user_id, top.event_count) == ("app1", "alice", 2)
    assert top.updated_at == clock.now
    assert top.created_at == clock.now - 3


async def test_list_is_per_user_and_app(store: SessionBackend) -> None:
    await store.create(KEY)
    await store.create(SessionKey("app1", "bob", "b1"))
    await store.create(SessionKey("app2", "alice", "x1"))
    assert [s.id for s in await store.list(app="app1", user_id="alice")] == ["s1"]
    assert [s.id for s in await store.list(app="app1", user_id="bob")] == ["b1"]
    assert [s.id for s in await store.list(app="app2", user_id="alice")] == ["x1"]
    assert await store.list(app="app3", user_id="alice") == []


async def test_delete_removes_session_and_events(store: SessionBackend, reread: Reread) -> None:
    session = await store.create(KEY, state={"k": 1})
    await store.append(session, [event("a"), event("b")])
    keep = await store.create(SessionKey("app1", "alice", "keep"))
    await store.append(keep, [event("kept")])
    await store.delete(KEY)
    assert await store.get(KEY) is None
    assert [s.id for s in await store.list(app="app1", user_id="alice")] == ["keep"]
    again = await store.create(KEY)
    assert again.events == [] and again.state == {}
    await store.append(again, [event("new")])
    assert [e.seq for e in again.events] == [1]
    got = await store.get(KEY)
    assert got is not None
    assert [e.message.text for e in got.events if e.message] == ["new"]
    kept = await store.get(keep.key)
    assert kept is not None and len(kept.events) == 1
    if (other := await reread()) is not None:
        fresh = await other.get(KEY)
        assert fresh is not None
        assert [e.message.text for e in fresh.events if e.message] == ["new"]


async def test_delete_missing_is_fine(store: SessionBackend) -> None:
    await store.delete(KEY)


async def test_delete_keeps_shared_state(store: SessionBackend) -> None:
    await store.create(KEY, state={"app:a": 1, "user:u": 2, "own": 3})
    await store.delete(KEY)
    other = await store.create(SessionKey("app1", "alice", "s2"))
    assert other.state == {"app:a": 1, "user:u": 2}


# ---- event limit --------------------------------------------------------------------------


async def test_event_limit_keeps_the_newest(make_store: MakeStore, reread: Reread) -> None:
    store = await make_store(max_events=3)
    session = await store.create(KEY)
    await store.append(session, [event("1"), event("2")])
    await store.append(session, [event("3"), event("4"), event("5")])
    assert [e.seq for e in session.events] == [3, 4, 5]
    got = await store.get(KEY)
    assert got is not None
    assert [e.seq for e in got.events] == [3, 4, 5]
    assert (await store.list(app="app1", user_id="alice"))[0].event_count == 3
    await store.append(session, [event("6")])
    assert [e.seq for e in session.events] == [4, 5, 6]
    if (other := await reread()) is not None:
        fresh = await other.get(KEY)
        assert fresh is not None
        assert [e.seq for e in fresh.events] == [4, 5, 6]


async def test_event_limit_bigger_than_one_batch(make_store: MakeStore) -> None:
    store = await make_store(max_events=2)
    session = await store.create(KEY)
    await store.append(session, [event(str(i)) for i in range(5)])
    got = await store.get(KEY)
    assert got is not None
    assert [e.seq for e in got.events] == [4, 5]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
async def test_event_limit_must_be_positive(backend: Backend, bad: Any) -> None:
    with pytest.raises(InvalidArgument) as info:
        open_session_store(backend.url, max_events=bad)
    assert info.value.field == "max_events"


# ---- TTL ----------------------------------------------------------------------------------


async def test_ttl_expires_sessions(make_store: MakeStore, clock: FakeClock) -> None:
    store = await make_store(ttl_seconds=10, clock=clock)
    session = await store.create(KEY)
    clock.advance(6)
    await store.append(session, [event()])  # updated: the 10 s start again
    clock.advance(9)
    assert await store.get(KEY) is not None
    assert [s.id for s in await store.list(app="app1", user_id="alice")] == ["s1"]
    clock.advance(2)
    assert await store.get(KEY) is None
    assert await store.list(app="app1", user_id="alice") == []
    with pytest.raises(SessionNotFound):
        await store.append(session, [event()])


async def test_ttl_expired_key_can_be_created_again(
    make_store: MakeStore, clock: FakeClock
) -> None:
    store = await make_store(ttl_seconds=10, clock=clock)
    old = await store.create(KEY, state={"old": True})
    await store.append(old, [event("old")])
    clock.advance(11)
    new = await store.create(KEY)
    assert new.events == [] and new.state == {}
    got = await store.get(KEY)
    assert got is not None
    assert got.events == []


async def test_purge_expired(make_store: MakeStore, clock: FakeClock) -> None:
    store = await make_store(ttl_seconds=10, clock=clock)
    await store.create(KEY)
    old = await store.create(SessionKey("app1", "alice", "old"))
    await store.append(old, [event()])
    clock.advance(8)
    fresh = await store.create(SessionKey("app1", "bob", "fresh"))
    clock.advance(5)
    assert await store.purge_expired() == 2
    assert await store.purge_expired() == 0
    assert await store.get(fresh.key) is not None
    clock.now -= 13  # back in time: the purged sessions are gone, not merely expired
    assert await store.get(KEY) is None
    assert await store.get(old.key) is None
    assert await store.list(app="app1", user_id="alice") == []


async def test_purge_without_ttl_deletes_nothing(store: SessionBackend) -> None:
    await store.create(KEY)
    assert await store.purge_expired() == 0
    assert await store.get(KEY) is not None


async def test_ttl_must_be_positive(backend: Backend) -> None:
    with pytest.raises(InvalidArgument) as info:
        open_session_store(backend.url, ttl_seconds=0)
    assert info.value.field == "ttl_seconds"


# ---- key/value ----------------------------------------------------------------------------


async def test_kv_round_trip(store: SessionBackend, reread: Reread) -> None:
    assert await store.kv_get("agent1", "missing") is None
    values: dict[str, Any] = {
        "dict": {"a": [1, 2.5, None, True], "b": {"c": "ü"}},
        "list": [1, "two", 3.0],
        "str": "text",
        "int": 42,
        "float": 0.1,
        "bool": False,
        "empty": {},
    }
    for key, value in values.items():
        await store.kv_set("agent1", key, value)
    for key, value in values.items():
        assert await store.kv_get("agent1", key) == value
    assert await store.kv_keys("agent1") == sorted(values)
    other = await reread()
    if other is not None:
        assert await other.kv_get("agent1", "dict") == values["dict"]


async def test_kv_overwrite_delete_and_namespaces(store: SessionBackend) -> None:
    await store.kv_set("a", "k", 1)
    await store.kv_set("a", "k", {"v": 2})
    await store.kv_set("b", "k", "other")
    assert await store.kv_get("a", "k") == {"v": 2}
    assert await store.kv_get("b", "k") == "other"
    assert await store.kv_keys("a") == ["k"]
    await store.kv_delete("a", "k")
    await store.kv_delete("a", "never-set")
    assert await store.kv_get("a", "k") is None
    assert await store.kv_keys("a") == []
    assert await store.kv_get("b", "k") == "other"
    await store.kv_set("b", "k", None)  # None deletes
    assert await store.kv_keys("b") == []


async def test_kv_value_must_be_json(store: SessionBackend) -> None:
    with pytest.raises(InvalidArgument) as info:
        await store.kv_set("a", "k", object())
    assert info.value.field == "value"
    assert await store.kv_keys("a") == []


async def test_kv_values_are_copies(store: SessionBackend) -> None:
    value = {"items": [1]}
    await store.kv_set("a", "k", value)
    value["items"].append(2)
    assert await store.kv_get("a", "k") == {"items": [1]}


async def test_values_json_cannot_hold_are_refused(store: SessionBackend) -> None:
    with pytest.raises(InvalidArgument) as info:
        await store.create(KEY, state={"when": object()})
    assert info.value.field == "state"
    assert await store.get(KEY) is None
    session = await store.create(KEY)
    bad = Event(
        id=new_id(),
        run_id="run_1",
        author="agent",
        type="state.updated",
        data={"x": object()},
    )
    with pytest.raises(InvalidArgument) as info:
        await store.append(session, [event("fine"), bad])
    assert info.value.field == "events"
    got = await store.get(KEY)
    assert got is not None
    assert got.events == []


async def test_event_of_another_session_is_refused(store: SessionBackend) -> None:
    session = await store.create(KEY)
    mine = event("mine")
    mine.app, mine.user_id, mine.session_id = KEY  # stamped with this session: fine
    await store.append(session, [mine])
    stray = event("stray")
    stray.session_id = "another"
    with pytest.raises(InvalidArgument, match="another") as info:
        await store.append(session, [stray])
    assert info.value.field == "events[0]"
    got = await store.get(KEY)
    assert got is not None
    assert [e.message.text for e in got.events if e.message] == ["mine"]


async def test_check_passes_on_a_usable_store_and_fails_once_it_is_closed(
    backend: Backend,
) -> None:
    store = open_session_store(backend.url)
    async with store:
        session = await store.create(KEY)
        await store.append(session, [event("fine")])
        await store.check()
    if backend.name != "memory":  # nothing to close in memory
        with pytest.raises(StoreError, match="not open"):
            await store.check()


async def test_two_stores_appending_to_one_session_get_unique_contiguous_seq(
    backend: Backend, make_store: MakeStore
) -> None:
    """Two store instances (two connections or pools, as two replicas would have) append to
    one session at once: every seq is handed out exactly once, with no gap."""
    if not backend.persistent:
        pytest.skip("one store per process: nothing else can write its data")
    first, second = await make_store(), await make_store()
    await first.create(KEY)
    one, two = await first.get(KEY), await second.get(KEY)
    assert one is not None and two is not None

    async def writer(store: SessionBackend, session: Session, name: str) -> list[int]:
        seqs: list[int] = []
        for i in range(15):
            batch = [event(f"{name}{i}a"), event(f"{name}{i}b")]
            await store.append(session, batch)
            seqs += [e.seq for e in batch]
        return seqs

    got_one, got_two = await asyncio.gather(writer(first, one, "x"), writer(second, two, "y"))
    assert sorted(got_one + got_two) == list(range(1, 61))
    stored = await first.get(KEY)
    assert stored is not None
    assert [e.seq for e in stored.events] == list(range(1, 61))
    by_seq = {e.seq: e.message.text for e in stored.events if e.message}
    assert [by_seq[s] for s in got_one] == [f"x{i}{c}" for i in range(15) for c in "ab"]
