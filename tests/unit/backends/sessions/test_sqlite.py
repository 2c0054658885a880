"""SQLite-only behaviour: URLs, files, the session cache across connections, lock waits, and
surviving a killed process. The shared behaviour is in tests/contract/test_session_store.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

import agenthost
from agenthost.backends.sessions import _sqlite_checkpoint, open_session_store
from agenthost.backends.sessions.sqlite import SQLiteSessionStore, parse_sqlite_url
from agenthost.core import serde
from agenthost.core.errors import BackendUnavailable, ConfigError, SessionNotFound, StoreError
from agenthost.core.session import SessionKey

from .sqlite_helpers import KEY, Open, event, texts

# ---- URLs and files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///agenthost.db", "agenthost.db"),
        ("sqlite:///data/dir/a.db", "data/dir/a.db"),
        ("sqlite:////var/lib/a.db", "/var/lib/a.db"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("SQLITE:///x.db", "x.db"),
    ],
)
def test_parse_url(url: str, path: str) -> None:
    assert parse_sqlite_url(url) == path


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "sqlite://host/x.db", "sqlite:///x.db?a=1"]
)
def test_bad_url(url: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("sqlite:///relative.db")):
        parse_sqlite_url(url)


async def test_relative_path_and_parent_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_session_store("sqlite:///nested/dir/agent.db") as store:
        await store.create(KEY)
    assert (tmp_path / "nested" / "dir" / "agent.db").is_file()


async def test_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "abs.db"
    async with open_session_store(f"sqlite:///{path}") as store:  # four slashes
        assert isinstance(store, SQLiteSessionStore)
        assert store.path == str(path)
        await store.create(KEY)
    assert path.is_file()


async def test_wal_mode_and_schema_version(open_store: Open, db_path: Path) -> None:
    await open_store()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


async def test_newer_schema_is_refused(open_store: Open, db_path: Path) -> None:
    store = await open_store()
    await store.aclose()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
        conn.commit()
    with pytest.raises(ConfigError, match="schema version 99"):
        await open_store()


async def test_use_before_open_is_a_clear_error(db_path: Path) -> None:
    store = SQLiteSessionStore(db_path)
    with pytest.raises(ConfigError, match="not open"):
        await store.get(KEY)
    async with store:
        await store.create(KEY)
    with pytest.raises(ConfigError, match="not open"):
        await store.get(KEY)


async def test_persists_across_reopen(open_store: Open) -> None:
    first = await open_store()
    session = await first.create(KEY, state={"app:a": 1, "user:u": 2, "own": 3})
    await first.append(session, [event("one"), event("two", {"own": 4})])
    await first.kv_set("ns", "k", {"v": [1, 2]})
    await first.aclose()
    second = await open_store()
    got = await second.get(KEY)
    assert got is not None
    assert texts(got.events) == ["one", "two"]
    assert got.events == session.events
    assert got.state == {"app:a": 1, "user:u": 2, "own": 4}
    assert await second.kv_get("ns", "k") == {"v": [1, 2]}


# ---- the cache ------------------------------------------------------------------------------


async def test_cached_get_reads_nothing_but_data_version(open_store: Open) -> None:
    store = await open_store()
    session = await store.create(KEY)
    await store.append(session, [event() for _ in range(50)])
    statements: list[str] = []
    assert store._conn is not None
    store._conn.set_trace_callback(statements.append)
    got = await store.get(KEY)
    store._conn.set_trace_callback(None)
    assert got is session
    assert statements == ["PRAGMA data_version"]


async def test_another_connection_appends(open_store: Open) -> None:
    a = await open_store()
    b = await open_store()
    session = await a.create(KEY)
    await a.append(session, [event("a1"), event("a2")])
    cached = await a.get(KEY)
    via_b = await b.get(KEY)
    assert via_b is not None
    await b.append(via_b, [event("b3", {"from_b": True})])
    again = await a.get(KEY)
    assert again is not None
    assert again is cached  # refreshed in place: only the new event was read
    assert texts(again.events) == ["a1", "a2", "b3"]
    assert [e.seq for e in again.events] == [1, 2, 3]
    assert again.state == {"from_b": True}


async def test_append_after_another_connection_appended(open_store: Open) -> None:
    """A's cache is stale when it appends: seq and session state continue from B's write."""
    a = await open_store()
    b = await open_store()
    session = await a.create(KEY)
    await a.append(session, [event("a1", {"x": 1})])
    via_b = await b.get(KEY)
    assert via_b is not None
    await b.append(via_b, [event("b2", {"y": 2})])
    await a.append(session, [event("a3", {"z": 3})])
    assert [e.seq for e in session.events] == [1, 2, 3]
    assert session.state == {"x": 1, "y": 2, "z": 3}
    fresh = await b.get(KEY)
    assert fresh is not None
    assert texts(fresh.events) == ["a1", "b2", "a3"]
    assert fresh.state == {"x": 1, "y": 2, "z": 3}


async def test_shared_state_from_another_connection(open_store: Open) -> None:
    a = await open_store()
    b = await open_store()
    await a.create(KEY)
    assert (await a.get(KEY)) is not None  # cached in A
    other = await b.create(SessionKey("app", "alice", "s2"))
    await b.append(other, [event(state_delta={"user:lang": "fr", "app:motd": "hello"})])
    got = await a.get(KEY)
    assert got is not None
    assert got.state == {"user:lang": "fr", "app:motd": "hello"}


async def test_shared_state_updates_cached_sessions_of_this_process(open_store: Open) -> None:
    store = await open_store()
    first = await store.create(KEY)
    second = await store.create(SessionKey("app", "alice", "s2"))
    bob = await store.create(SessionKey("app", "bob", "s1"))
    await store.append(first, [event(state_delta={"user:lang": "de", "app:v": 2})])
    assert second.state == {"user:lang": "de", "app:v": 2}  # the handed-out object, at once
    assert bob.state == {"app:v": 2}


async def test_a_new_session_starts_with_the_current_shared_state(open_store: Open) -> None:
    """A new session of a user whose session was just used takes its app:/user: state from
    the cache (no read of the state tables) unless another connection wrote since; it is
    always what a fresh read of the file gives."""
    a = await open_store()
    b = await open_store()
    first = await a.create(KEY, state={"user:lang": "de", "app:v": 1, "mine": 1})
    await a.append(first, [event(state_delta={"user:gone": 1, "app:w": 2})])
    await a.append(first, [event(state_delta={"user:gone": None})])

    async def check(session_id: str, **create: object) -> dict[str, object]:
        key = SessionKey("app", "alice", session_id)
        await asyncio.sleep(0)  # a new loop tick: written at once, not in a group commit
        made = await a.create_with_events(key, **create)  # type: ignore[arg-type]
        fresh = await open_store(cache_size=0)
        reread = await fresh.get(key)
        assert reread is not None
        assert made.state == reread.state
        return made.state

    statements: list[str] = []
    assert a._conn is not None
    a._conn.set_trace_callback(statements.append)
    assert await check("s2", events=[]) == {"user:lang": "de", "app:v": 1, "app:w": 2}
    a._conn.set_trace_callback(None)
    assert not [s for s in statements if "_state" in s]  # from the cache
    # its own events' app:/user: changes
    own = [event(state_delta={"app:v": None, "user:new": 3, "x": 4})]
    assert await check("s3", events=own) == {"user:lang": "de", "app:w": 2, "user:new": 3, "x": 4}
    # another connection changed the shared state: read from the file
    via_b = await b.get(KEY)
    assert via_b is not None
    await b.append(via_b, [event(state_delta={"app:w": 5, "user:lang": "fr"})])
    assert await check("s4", events=[]) == {"user:lang": "fr", "app:w": 5, "user:new": 3}
    # the last session used is another user's: its user: state is not this user's
    bob = await a.create(SessionKey("app", "bob", "b1"), state={"user:lang": "en"})
    assert bob.state == {"app:w": 5, "user:lang": "en"}
    assert await check("s5", events=[]) == {"user:lang": "fr", "app:w": 5, "user:new": 3}


async def test_deleted_by_another_connection(open_store: Open) -> None:
    a = await open_store()
    b = await open_store()
    session = await a.create(KEY)
    await a.append(session, [event()])
    assert await a.get(KEY) is not None
    await b.delete(KEY)
    assert await a.get(KEY) is None
    with pytest.raises(SessionNotFound):
        await a.append(session, [event()])


async def test_recreated_by_another_connection(open_store: Open) -> None:
    a = await open_store()
    b = await open_store()
    old = await a.create(KEY, state={"old": True})
    await a.append(old, [event("old1"), event("old2"), event("old3")])
    assert await a.get(KEY) is old
    await b.delete(KEY)
    new = await b.create(KEY)
    await b.append(new, [event("new1")])
    got = await a.get(KEY)
    assert got is not None
    assert got is not old
    assert texts(got.events) == ["new1"]
    assert got.state == {}


async def test_trimmed_by_another_connection(open_store: Open) -> None:
    a = await open_store()
    b = await open_store(max_events=2)
    session = await a.create(KEY)
    await a.append(session, [event("1"), event("2")])
    assert await a.get(KEY) is session
    via_b = await b.get(KEY)
    assert via_b is not None
    await b.append(via_b, [event("3")])
    got = await a.get(KEY)
    assert got is not None
    assert texts(got.events) == ["2", "3"]


async def test_cache_is_bounded(open_store: Open) -> None:
    store = await open_store(cache_size=2)
    sessions = [await store.create(SessionKey("app", "alice", f"s{i}")) for i in range(3)]
    assert len(store._cache) == 2
    again = await store.get(sessions[0].key)  # evicted: read from the file again
    assert again is not None and again is not sessions[0]
    assert len(store._cache) == 2


async def test_without_cache(open_store: Open) -> None:
    store = await open_store(cache_size=0, max_events=3)
    session = await store.create(KEY, state={"n": 0})
    for i in range(5):
        await store.append(session, [event(str(i), {"n": i, "user:last": i})])
    got = await store.get(KEY)
    assert got is not None and got is not session
    assert texts(got.events) == ["2", "3", "4"]
    assert got.state == {"n": 4, "user:last": 4}
    assert texts(session.events) == ["2", "3", "4"]
    assert (await store.list(app="app", user_id="alice"))[0].event_count == 3


# ---- locks --------------------------------------------------------------------------------


async def test_lock_wait_does_not_block_the_loop(open_store: Open, db_path: Path) -> None:
    store = await open_store(busy_timeout=0.3)
    session = await store.create(KEY)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    with contextlib.closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        task = asyncio.create_task(ticker())
        try:
            with pytest.raises(BackendUnavailable, match="locked"):
                await store.append(session, [event()])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert ticks >= 1  # the loop kept running while we waited
        assert session.events == []
        other.execute("ROLLBACK")
        # released by the loop while it waits (a store that waits long enough): it goes through
        patient = await open_store(busy_timeout=600)
        waiting = await patient.get(KEY)
        assert waiting is not None
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.05, other.execute, "ROLLBACK")
        await patient.append(waiting, [event("after")])
    assert texts(waiting.events) == ["after"]


# ---- crash safety -------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from agenthost.backends.sessions import open_session_store
    from agenthost.core.events import Event
    from agenthost.core.messages import Message
    from agenthost.core.session import SessionKey

    async def main(url):
        store = await open_session_store(url).open()
        session = await store.create(SessionKey("app", "alice", "s1"), state={"user:x": 1})
        for i in range(5):
            await store.append(session, [
                Event(id=f"e{i}", run_id="run", author="user", type="message.received",
                      message=Message.user(f"q{i}")),
                Event(id=f"f{i}", run_id="run", author="agent", type="message.completed",
                      message=Message.assistant(f"a{i}"), state_delta={"turn": i}),
            ])
        print("stored", flush=True)
        await asyncio.sleep(60)  # killed here: the store is never closed

    asyncio.run(main(sys.argv[1]))
    """
)


def wal_size(db_path: Path) -> int:
    return Path(f"{db_path}-wal").stat().st_size


@pytest.mark.integration
async def test_events_survive_sigkill(db_path: Path, open_store: Open) -> None:
    src = str(Path(agenthost.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        f"sqlite:///{db_path}",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line == b"stored\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert wal_size(db_path) > 0  # the events were only in the WAL
    store = await open_store()
    got = await store.get(KEY)
    assert got is not None
    assert [e.seq for e in got.events] == list(range(1, 11))
    assert texts(got.events)[-2:] == ["q4", "a4"]
    assert got.state == {"user:x": 1, "turn": 4}


# ---- background checkpoints ---------------------------------------------------------------


async def test_checkpoints_run_in_the_background(
    open_store: Open, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_checkpoint, "CHECKPOINT_PAGES", 20)
    store = await open_store()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # others: default
    assert store._conn is not None
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    checkpointer = store._checkpointer
    assert checkpointer is not None
    session = await store.create(KEY)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 300  # a guard: the checkpoints come after a few appends
    while checkpointer.checkpoints < 2 and loop.time() < deadline:
        await store.append(session, [event("x" * 2000) for _ in range(3)])
        await asyncio.sleep(0.001)
    assert checkpointer.checkpoints >= 2
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    assert await store.get(KEY) is session  # a checkpoint is not a commit: the cache holds
    store._conn.set_trace_callback(None)
    assert statements == ["PRAGMA data_version"]


async def test_restart_checkpoints_make_writers_wait_not_fail(
    open_store: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_checkpoint, "CHECKPOINT_PAGES", 5)
    monkeypatch.setattr(_sqlite_checkpoint, "RESTART_FRAMES", 0)  # every one a RESTART
    store = await open_store()
    checkpointer = store._checkpointer
    assert checkpointer is not None
    session = await store.create(KEY)
    appended = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while checkpointer.checkpoints < 3 and loop.time() < deadline:  # appending all along
        await store.append(session, [event("y" * 1000), event("z")])
        appended += 2
        await asyncio.sleep(0)
    assert checkpointer.checkpoints >= 3  # the 2nd and 3rd were RESTARTs
    await store.aclose()
    again = await open_store()
    got = await again.get(KEY)
    assert got is not None
    assert [e.seq for e in got.events] == list(range(1, appended + 1))


async def test_inline_checkpoints_when_asked(open_store: Open) -> None:
    store = await open_store(background_checkpoint=False)
    assert store._checkpointer is None
    assert store._conn is not None
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


async def test_a_session_at_the_last_seq_refuses_more_events(
    open_store: Open, db_path: Path
) -> None:
    """Events are keyed `sid << 32 | seq`: a seq past 2**32 - 1 would land in the next
    session's range, so the append is refused instead."""
    store = await open_store()
    await store.create(KEY)
    await store.aclose()
    last = msgspec.structs.replace(event("last"), seq=2**32 - 1)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:  # as if it held 2**32 - 1
        conn.execute(
            "INSERT INTO events VALUES ((1 << 32) | ?, 'e', 'r', 'message.completed', 1, 1, ?)",
            (last.seq, serde.encode(last)),
        )
        conn.commit()
    store = await open_store()
    full = await store.get(KEY)
    assert full is not None and full.last_seq == 2**32 - 1
    with pytest.raises(StoreError, match="the most a SQLite session holds"):
        await store.append(full, [event("two")])
    assert texts(full.events) == ["last"]
