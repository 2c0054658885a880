"""Group commit: appends to different sessions in one event-loop tick share one transaction;
each returns only once its events are committed, and one refused batch fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.core.errors import InvalidArgument, SessionExists, SessionNotFound
from agenthost.core.session import Session, SessionKey

from .sqlite_helpers import Open, event, texts


def count_commits(store: SQLiteSessionStore) -> list[str]:
    commits: list[str] = []
    conn = store._conn
    assert conn is not None
    conn.set_trace_callback(lambda s: commits.append(s) if s == "COMMIT" else None)
    return commits


async def sessions(store: SQLiteSessionStore, n: int) -> list[Session]:
    return [await store.create(SessionKey("app", "u", f"s{i}")) for i in range(n)]


async def stored(other: SQLiteSessionStore, session: Session) -> list[str]:
    got = await other.get(session.key)
    assert got is not None
    return texts(got.events)


async def test_appends_of_one_tick_share_a_commit_and_all_are_stored(open_store: Open) -> None:
    store, other = await open_store(), await open_store()
    many = await sessions(store, 20)
    commits = count_commits(store)
    await asyncio.gather(*(store.append(s, [event(f"to {s.id}")]) for s in many))
    assert len(commits) == 3  # the first two commit at once, the other 18 together
    for s in many:
        assert await stored(other, s) == [f"to {s.id}"]
        assert [e.seq for e in s.events] == [1]


async def test_a_refused_batch_fails_alone(open_store: Open) -> None:
    store, other = await open_store(), await open_store()
    first, second, gone, bad, fine = await sessions(store, 5)
    await store.delete(gone.key)
    unstorable = event("bad")
    unstorable.data = {"value": object()}
    commits = count_commits(store)
    results = await asyncio.gather(
        store.append(first, [event("one")]),
        store.append(second, [event("two")]),  # these two commit at once; the rest group
        store.append(gone, [event("lost")]),
        store.append(bad, [unstorable]),
        store.append(fine, [event("five")]),
        return_exceptions=True,
    )
    assert len(commits) == 3
    assert results[0] is None and results[1] is None and results[4] is None
    assert isinstance(results[2], SessionNotFound)
    assert isinstance(results[3], InvalidArgument)
    assert await stored(other, first) == ["one"]
    assert await stored(other, fine) == ["five"]
    assert await stored(other, bad) == []


async def test_one_session_twice_in_a_tick_keeps_its_order(open_store: Open) -> None:
    store, other = await open_store(), await open_store()
    a, b = await sessions(store, 2)
    await asyncio.gather(
        store.append(a, [event("a1")]),
        store.append(b, [event("b1")]),
        store.append(b, [event("b2")]),
        store.append(a, [event("a2")]),
    )
    assert await stored(other, a) == ["a1", "a2"]
    assert await stored(other, b) == ["b1", "b2"]
    assert [e.seq for e in b.events] == [1, 2]


async def test_the_session_written_last_commits_at_once_in_the_next_tick_too(
    open_store: Open,
) -> None:
    """A run's writes come one tick after another: the session written last does not count
    as a switch (nor schedule the tick's end); two other sessions still commit at once."""
    store, other = await open_store(), await open_store()
    a, b, c, d = await sessions(store, 4)
    await store.append(a, [event("a1")])
    await asyncio.sleep(0)  # the next tick
    commits = count_commits(store)
    tasks = [asyncio.create_task(store.append(s, [event(f"{s.id}2")])) for s in (a, b, c, d)]
    await asyncio.sleep(0)  # all started: a, b and c committed at once, d waits for the group
    assert [t.done() for t in tasks] == [True, True, True, False]
    assert len(commits) == 3
    await asyncio.gather(*tasks)
    assert len(commits) == 4
    assert await stored(other, a) == ["a1", "s02"]
    assert await stored(other, d) == ["s32"]


async def test_a_cancelled_append_waiting_for_the_group_is_not_stored(open_store: Open) -> None:
    store, other = await open_store(), await open_store()
    a, b, c, d = await sessions(store, 4)
    tasks = [asyncio.create_task(store.append(s, [event(s.id)])) for s in (a, b, c, d)]
    await asyncio.sleep(0)  # all started: a and b committed, c and d wait for the group
    assert tasks[1].done() and not tasks[3].done()
    tasks[3].cancel()
    await tasks[2]
    with pytest.raises(asyncio.CancelledError):
        await tasks[3]
    assert await stored(other, c) == ["s2"]
    assert await stored(other, d) == []


async def test_a_store_closed_before_the_group_commit_refuses_it(open_store: Open) -> None:
    store = await open_store()
    a, b, c = await sessions(store, 3)
    tasks = [asyncio.create_task(store.append(s, [event()])) for s in (a, b, c)]
    await asyncio.sleep(0)  # a and b committed, c waits for the group
    await store.aclose()
    await asyncio.gather(tasks[0], tasks[1])
    with pytest.raises(Exception, match="not open"):
        await tasks[2]


async def test_new_sessions_with_their_first_events_group_too(open_store: Open) -> None:
    store, other = await open_store(), await open_store()
    await store.create(SessionKey("app", "u", "taken"))
    commits = count_commits(store)
    keys = [SessionKey("app", "u", f"n{i}") for i in range(10)] + [SessionKey("app", "u", "taken")]
    results = await asyncio.gather(
        *(store.create_with_events(k, [event(k.session_id)]) for k in keys),
        return_exceptions=True,
    )
    assert len(commits) == 3
    assert isinstance(results[-1], SessionExists)
    for key, made in zip(keys[:-1], results, strict=False):
        assert isinstance(made, Session) and made.key == key and made.last_seq == 1
        assert made is await store.get(key)  # the cached object
        assert await stored(other, made) == [key.session_id]
    taken = await other.get(SessionKey("app", "u", "taken"))
    assert taken is not None and taken.events == []


async def test_a_group_that_meets_another_writers_lock_is_stored_one_by_one(
    open_store: Open, db_path: Path
) -> None:
    store, other = await open_store(), await open_store()
    a, b, c, d = await sessions(store, 4)
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process's write lock
    try:
        tasks = [asyncio.create_task(store.append(s, [event(s.id)])) for s in (a, b, c, d)]
        await asyncio.sleep(0)  # a and b met the lock and wait; c and d joined the group
        await asyncio.sleep(0)  # the group met it too: each of c, d retries on its own
        assert not any(t.done() for t in tasks)
    finally:
        locker.rollback()
        locker.close()
    await asyncio.gather(*tasks)
    for s in (a, b, c, d):
        assert await stored(other, s) == [s.id]
