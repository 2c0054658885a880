"""The plans of the SQL stores' hot statements on the real servers, a private table prefix
each (tests/contract/server_stores.py).

Postgres (migration 3, _postgres_sql.py), on a fresh schema WITHOUT statistics, as a
deployment has in its first minute and the benchmarks have throughout: every session lookup
goes through the unique key, no run-path statement scans a table, and the updates a run makes
(the append's session row, the lease's renew and release) are HOT: no new index entries.

MySQL/MariaDB (migration 4, _mysql_sql.py): the sessions table keeps only its primary and
unique keys, so the append's UPDATE of the session row changes no indexed column (InnoDB
updates it in place, no secondary index record written), and every statement the store runs
(EXPLAIN on the server) finds its rows through a key: sessions through `by_key`, `list`
through its (app, user_id) prefix.

The one scan left on both is `purge_expired`'s, a rare sweep."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from agenthost.backends.sessions import _mysql_sql as my
from agenthost.backends.sessions import _postgres_sql as sql
from agenthost.backends.sessions import open_session_store
from agenthost.backends.sessions._sql_leases import MYSQL, MYSQL_QUEUE, PG, PG_QUEUE
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


async def _plan(conn: Any, statement: str, args: tuple[Any, ...], generic: bool) -> Any:
    """The statement's plan for `args` (custom), or its generic plan, the same for any
    values (so NULLs stand in for them). asyncpg prepares each statement once per connection,
    and from the sixth execution on Postgres runs the generic plan unless the custom ones cost
    clearly less: the generic plan is what a busy replica's statements mostly run."""
    if not generic:
        return await conn.fetchval("EXPLAIN (FORMAT JSON) " + statement, *args)
    count = max(int(n) for n in re.findall(r"\$(\d+)", statement))
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE planned AS " + statement)
        try:
            nulls = ", ".join(["NULL"] * count)
            return await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE planned({nulls})")
        finally:
            await conn.execute("DEALLOCATE planned")


@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
async def test_run_path_statements_use_indexes_without_statistics(
    db: tuple[Any, str], generic: bool
) -> None:
    conn, p = db
    assert (
        await conn.fetchval("SELECT count(*) FROM pg_stats WHERE tablename LIKE $1", p + "%") == 0
    )  # no statistics: what the planner knows on a fresh deployment
    unique = f"{p}sessions_app_user_id_session_id_key"
    for name, (statement, args) in _run_path(p).items():
        plan = await _plan(conn, statement.replace("{p}", p), args, generic)
        nodes = list(_nodes(json.loads(plan)[0]["Plan"]))
        scans = [n for n in nodes if n.get("Relation Name", "").startswith(p)]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"], (name, scans)
        sessions = [n for n in scans if n["Relation Name"] == f"{p}sessions" and "Index Name" in n]
        assert [n["Index Name"] for n in sessions] == [unique] * len(sessions), name
        if name in BY_KEY:
            assert sessions, name
            if generic:  # a plan for any values: the key's parameters left in it
                assert "$1" in sessions[0]["Index Cond"], (name, sessions)


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


# ---- MySQL / MariaDB -------------------------------------------------------------------------

SID = 1  # the sid of session s0 (the first one made: AUTO_INCREMENT)


def _mysql_run_path() -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Every statement that finds rows, as the MySQL store and its leases run them (`{p}` for
    the prefix): `get`'s five reads, `append`'s lock, fence, trim, row update and state
    deletes, `create`'s expiry check, `list`, `delete`, the key/value reads, the leases."""
    key, name, app, user = (*KEY,), "app/u/s3", KEY.app, KEY.user_id
    gets = [q for q in my.GET.split(";") if q.startswith("SELECT")]
    return {
        **{f"get {i}": (q, args) for i, (q, args) in enumerate(zip(gets, _GET_ARGS, strict=True))},
        "append lock": (my.LOCK_SESSION, key),
        "append fence": (my.LOCK_FENCE, (name,)),
        "append trim": (my.TRIM, (SID, 5)),
        "append row": (my.UPDATE_SESSION, (3, 2.0, 3, SID)),
        "append own state delete": (my.DELETE_OWN + "(%s)", (SID, "k")),
        "append app state delete": (my.DELETE_APP + "(%s)", (app, "k")),
        "append user state delete": (my.DELETE_USER + "(%s)", (app, user, "k")),
        "create expiry check": (my.SELECT_EXPIRY, key),
        "list": (my.LIST, (app, user, -1e308)),
        "delete": (my.DELETE_SESSION, key),
        "kv get": (my.KV_GET, ("ns", "k")),
        "kv keys": (my.KV_KEYS, ("ns",)),
        "kv delete": (my.KV_DELETE, ("ns", "k")),
        "lease acquire": (MYSQL["ACQUIRE"], ("h", 5.0, name)),
        "lease token": (MYSQL["TOKEN"], (name, "h")),
        "lease renew": (MYSQL["RENEW"], (5.0, name, 1)),
        "lease release": (MYSQL["RELEASE"], (name, 1)),
        "lease current": (MYSQL["CURRENT"], (name,)),
        "lease queued acquire": (MYSQL_QUEUE["ACQUIRE"], ("h", 5.0, name, name, 1, 1)),
        "lease first acquire": (MYSQL_QUEUE["ACQUIRE"], ("h", 5.0, name, name, None, None)),
        "lease queue gone": (MYSQL_QUEUE["GONE"], (name,)),
        "lease queue touch": (MYSQL_QUEUE["TOUCH"], (5.0, name, 1)),
        "lease dequeue": (MYSQL_QUEUE["DEQUEUE"], (name, 1)),
    }


_GET_ARGS = ((*KEY,), (*KEY,), (*KEY,), (KEY.app,), (KEY.app, KEY.user_id))
# the statements that find a session row by its key (the others by sid, or no session row)
MY_BY_KEY = ("get 0", "get 1", "get 2", "append lock", "create expiry check", "list", "delete")


@pytest.fixture
async def my_db() -> AsyncIterator[tuple[Any, str]]:
    """(an asyncmy cursor, the prefix) on a migrated schema: 10 users of 10 sessions each
    (KEY's user has s0-s9, s0 first), a held lease and the lease queue."""
    import asyncmy

    from agenthost.backends.sessions.mysql import connect_args

    url, prefix = private_url("mysql")
    store: Any = open_session_store(url)
    try:
        async with store:
            for user in [KEY.user_id] + [f"v{i}" for i in range(9)]:
                for i in range(10):
                    await store.create(SessionKey(KEY.app, user, f"s{i}"))
            leases = store.leases()
            await leases.enqueue("other", "h", ttl=5.0)
            await leases.acquire("app/u/s3", "h", ttl=60.0)
            await store.kv_set("ns", "k", 1)
        conn = await asyncmy.connect(**connect_args(url.split("?", 1)[0]))
        try:
            async with conn.cursor() as cur:
                yield cur, prefix
        finally:
            conn.close()
    finally:
        await drop(url)


async def _mysql_indexes(cur: Any, table: str) -> set[str]:
    await cur.execute(
        "SELECT DISTINCT index_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name = %s",
        (table,),
    )
    return {r[0] for r in await cur.fetchall()}


async def mysql_explain(cur: Any, statement: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The rows of EXPLAIN (the classic table, the same columns on MySQL and MariaDB)."""
    await cur.execute("EXPLAIN " + statement, args)
    names = [d[0].lower() for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def test_mysql_sessions_table_has_only_its_keys(my_db: tuple[Any, str]) -> None:
    cur, p = my_db
    assert await _mysql_indexes(cur, f"{p}sessions") == {"PRIMARY", "by_key"}


async def test_mysql_statements_find_rows_through_keys(my_db: tuple[Any, str]) -> None:
    cur, p = my_db
    for name, (statement, args) in _mysql_run_path().items():
        rows = await mysql_explain(cur, statement.replace("{p}", p), args)
        ours = [r for r in rows if r["table"] is not None]  # (table or alias)
        assert ours, (name, rows)
        assert not [r for r in ours if r["type"] == "ALL" or r["key"] is None], (name, rows)
        sessions = [r for r in ours if r["table"] in (f"{p}sessions", "s")]
        if name in MY_BY_KEY:
            assert [r["key"] for r in sessions] == ["by_key"], (name, rows)
        else:
            assert [r["key"] for r in sessions] in ([], ["PRIMARY"]), (name, rows)
    # the one scan: purge_expired's sweep over every session
    purge = await mysql_explain(cur, my.PURGE.replace("{p}", p), (1.0,))
    assert [r["type"] for r in purge] == ["ALL"], purge
