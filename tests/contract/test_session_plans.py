"""The plans of the Postgres store's hot statements (migration 3, _postgres_sql.py) on a
fresh schema WITHOUT statistics, as a deployment has in its first minute and the benchmarks
have throughout: every session lookup goes through the unique key, no run-path statement
scans a table, and the updates a run makes (the append's session row, the lease's renew
and release) are HOT: no new index entries. The one scan left is `purge_expired`'s, a rare
sweep. Real Postgres, a private table prefix (tests/contract/server_stores.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from agenthost.backends.sessions import _postgres_sql as sql
from agenthost.backends.sessions import open_session_store
from agenthost.backends.sessions._sql_leases import PG, PG_QUEUE
from agenthost.core.session import SessionKey

from .server_stores import drop, private_url

KEY = SessionKey("app", "u", "s3")
EVENTS = (["e1"], ["r1"], ["message.received"], [1.0], [b"{}"])
NO_STATE = ([], [], [])
# the statements that find the session row by its key (the others insert it or skip it)
BY_KEY = ("get", "append_events", "append_events_fenced", "append", "list", "delete")


def _run_path(p: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The statements a run makes, with arguments (`p`: the table prefix)."""
    now, name = 2.0, f"{KEY.app}/{KEY.user_id}/{KEY.session_id}"
    return {
        "get": (sql.SELECT_SESSION, (*KEY,)),
        "create_with_events": (sql.CREATE_WITH_EVENTS, (*KEY, now, 1, *EVENTS)),
        "append_events": (sql.APPEND_EVENTS, (*KEY, 1, now, None, *EVENTS)),
        "append_events_fenced": (sql.APPEND_EVENTS_FENCED, (*KEY, 1, now, None, *EVENTS, name, 1)),
        "append": (sql.APPEND, (*KEY, 1, now, None, 10, *EVENTS, *NO_STATE * 3)),
        "list": (sql.LIST, (KEY.app, KEY.user_id, None)),
        "delete": (sql.DELETE_SESSION, (*KEY,)),
        "lease_acquire_first": (PG_QUEUE["ACQUIRE_FIRST"], (name, "h", 5.0)),
        "lease_acquire_queued": (PG_QUEUE["ACQUIRE"], (name, "h", 5.0, 1)),
        "lease_renew": (PG["RENEW"], (name, 1, 5.0)),
        "lease_release": (PG["RELEASE"], (name, 1)),
    }


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


@pytest.fixture
async def db() -> AsyncIterator[tuple[Any, str]]:
    """(a connection, the prefix) on a migrated schema with a few sessions of one user, a
    held lease and the lease queue, never analyzed."""
    import asyncpg

    url, prefix = private_url("postgres")
    store: Any = open_session_store(url)
    try:
        async with store:
            for i in range(20):
                await store.create(SessionKey(KEY.app, KEY.user_id, f"s{i}"))
            leases = store.leases()
            await leases.enqueue("other", "h", ttl=5.0)  # makes both lease tables
            await leases.acquire(f"{KEY.app}/{KEY.user_id}/{KEY.session_id}", "h", ttl=60.0)
        conn = await asyncpg.connect(url.split("?", 1)[0])
        try:
            yield conn, prefix
        finally:
            await conn.close()
    finally:
        await drop(url)


async def test_the_sessions_table_has_only_its_keys(db: tuple[Any, str]) -> None:
    conn, p = db
    indexes = {
        r[0]
        for r in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = $1", f"{p}sessions"
        )
    }
    assert indexes == {f"{p}sessions_pkey", f"{p}sessions_app_user_id_session_id_key"}
    for table in ("sessions", "leases"):
        options = await conn.fetchval(
            "SELECT reloptions FROM pg_class WHERE relname = $1", p + table
        )
        assert "fillfactor=70" in options, table


async def test_run_path_statements_use_indexes_without_statistics(db: tuple[Any, str]) -> None:
    conn, p = db
    assert (
        await conn.fetchval("SELECT count(*) FROM pg_stats WHERE tablename LIKE $1", p + "%") == 0
    )  # no statistics: what the planner knows on a fresh deployment
    unique = f"{p}sessions_app_user_id_session_id_key"
    for name, (statement, args) in _run_path(p).items():
        plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + statement.replace("{p}", p), *args)
        nodes = list(_nodes(json.loads(plan)[0]["Plan"]))
        scans = [n for n in nodes if n.get("Relation Name", "").startswith(p)]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"], (name, scans)
        sessions = [n for n in scans if n["Relation Name"] == f"{p}sessions" and "Index Name" in n]
        assert [n["Index Name"] for n in sessions] == [unique] * len(sessions), name
        if name in BY_KEY:
            assert sessions, name


async def hot_updates(
    conn: Any, table: str, statement: str, args: Callable[[int], tuple[Any, ...]], times: int = 20
) -> tuple[int, int]:
    """(rows of `table` updated, of them HOT) by `statement` run `times` in one transaction,
    the i-th time with `args(i)` (the backend's own counters: no waiting for the statistics
    collector)."""
    counts = (
        "SELECT pg_stat_get_xact_tuples_updated($1::regclass), "
        "pg_stat_get_xact_tuples_hot_updated($1::regclass)"
    )
    async with conn.transaction():  # the backend's pending counts flush only when it is idle
        before = await conn.fetchrow(counts, table)
        for i in range(times):
            await conn.execute(statement, *args(i))
        after = await conn.fetchrow(counts, table)
    return after[0] - before[0], after[1] - before[1]


async def hot_appends(conn: Any, p: str, times: int = 20) -> tuple[int, int]:
    """(session rows updated, of them HOT) by `times` appends to session s0 of prefix `p`,
    each at a later time (`updated_at` changes, as in a run)."""

    def args(i: int) -> tuple[Any, ...]:
        return (KEY.app, KEY.user_id, "s0", 1, 10.0 + i, None, *EVENTS)

    statement = sql.APPEND_EVENTS.replace("{p}", p)
    return await hot_updates(conn, f"{p}sessions", statement, args, times)


async def test_appends_and_lease_updates_are_hot(db: tuple[Any, str]) -> None:
    conn, p = db
    assert await hot_appends(conn, p) == (20, 20)
    name = f"{KEY.app}/{KEY.user_id}/{KEY.session_id}"
    renew = PG["RENEW"].replace("{p}", p)
    assert await hot_updates(conn, f"{p}leases", renew, lambda i: (name, 1, 60.0 + i)) == (20, 20)
