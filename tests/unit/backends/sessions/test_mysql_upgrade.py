"""Migration 4 of the MySQL/MariaDB session store (the sessions' `by_user` and `by_age`
indexes dropped: an append's session-row update then writes no secondary index) taken by
`agenthost db upgrade` from a database at version 3 in use: refused at start-up before, only
4 applied, the indexes gone, every stored thing kept; and the step is idempotent (MySQL has
no DROP INDEX IF EXISTS): one already dropped by hand, or both, is no error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import _mysql_sql, mysql, open_session_store
from agenthost.core.errors import ConfigError, StoreError
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.session import SessionKey
from tests.contract.server_stores import cli_db_upgrade, private_server

KEY = SessionKey("app", "u", "kept")
LONG = 600.0


async def _indexes(store: Any) -> set[str]:
    async with store._cursor() as cur:
        await cur.execute(
            "SELECT DISTINCT index_name FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            (f"{store.prefix}sessions",),
        )
        return {r[0] for r in await cur.fetchall()}


async def _version_3(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at schema version 3 in use: a session with events and state, app and user
    state, a key/value, a held lease and a waiter in its queue."""
    assert mysql.LATEST == 4
    with monkeypatch.context() as patch:
        patch.setattr(_mysql_sql, "MIGRATIONS", _mysql_sql.MIGRATIONS[:3])
        patch.setattr(mysql, "LATEST", 3)
        old: Any = open_session_store(url)
        async with old:
            session = await old.create(KEY, state={"mine": 1, "app:shared": 2, "user:pref": 3})
            started = Event(id=new_id(), run_id="r", author="agent", type="run.started")
            await old.append(session, [started])
            await old.kv_set("ns", "k", {"v": 1})
            leases = old.leases()
            assert await leases.acquire("app/u/kept", "h", ttl=LONG) is not None
            assert await leases.enqueue("app/u/kept", "waiter", ttl=LONG) > 0
            assert await _indexes(old) == {"PRIMARY", "by_key", "by_user", "by_age"}


async def _kept(store: Any) -> None:
    session = await store.get(KEY)
    assert session is not None and [e.type for e in session.events] == ["run.started"]
    assert session.state == {"mine": 1, "app:shared": 2, "user:pref": 3}
    assert [s.id for s in await store.list(app="app", user_id="u")] == ["kept"]
    assert await store.kv_get("ns", "k") == {"v": 1}
    current = await store.leases().current("app/u/kept")
    assert current is not None and current.holder == "h"


async def test_db_upgrade_takes_a_version_3_database_to_4_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    async with private_server("mysql") as url:
        plain = url.replace("&migrate=true", "")
        await _version_3(plain + "&migrate=true", monkeypatch)
        with pytest.raises(ConfigError, match=r"schema version 3.*agenthost db upgrade"):
            await open_session_store(plain).open()
        done = await cli_db_upgrade(tmp_path, plain)
        assert done.exit_code == 0 and "applied migrations [4]" in done.output, done.output
        store: Any = open_session_store(plain)
        assert await store.upgrade() == []
        async with store:
            await store.check()  # the start-up check accepts version 4
            assert await store.schema_version() == 4
            assert await _indexes(store) == {"PRIMARY", "by_key"}
            await _kept(store)
            session = await store.get(KEY)
            assert session is not None
            ended = Event(id=new_id(), run_id="r", author="agent", type="run.completed")
            await store.append(session, [ended])  # and it is written to as before
            again = await store.get(KEY)
            assert again is not None and [e.seq for e in again.events] == [1, 2]


@pytest.mark.parametrize("gone", [("by_age",), ("by_user", "by_age")])
async def test_step_4_half_done_by_hand_is_finished_without_error(
    gone: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DDL commits at once in MySQL: an upgrade stopped after dropping an index (or an
    operator who dropped them) leaves version 3 without it; the next upgrade drops what is
    left and records 4."""
    async with private_server("mysql") as url:
        plain = url.replace("&migrate=true", "")
        await _version_3(plain + "&migrate=true", monkeypatch)
        store: Any = open_session_store(plain)
        async with store._errors():
            pool = await store._connect()
            try:
                async with pool.acquire() as conn, conn.cursor() as cur:
                    drops = ", ".join(f"DROP INDEX {name}" for name in gone)
                    await cur.execute(f"ALTER TABLE {store.prefix}sessions {drops}")
            finally:
                await store._close_pool(pool)
        assert await store.upgrade() == [4]
        async with store:
            assert await _indexes(store) == {"PRIMARY", "by_key"}
            await _kept(store)


async def test_an_upgrade_waits_for_anothers_lock_then_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replicas upgrading together take turns (GET_LOCK): one that cannot get the lock in
    time applies nothing and says why, instead of running the steps beside the other."""
    async with private_server("mysql") as url:
        plain = url.replace("&migrate=true", "")
        monkeypatch.setattr(mysql, "MIGRATE_LOCK_SECONDS", 0)
        holder: Any = open_session_store(plain)
        store: Any = open_session_store(plain)
        pool = await holder._connect()
        try:
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT GET_LOCK(%s, 0)", (f"agenthost.migrate.{holder.prefix}",))
                assert (await cur.fetchone())[0] == 1
                with pytest.raises(StoreError, match="another process has been migrating"):
                    await store.upgrade()
                assert await store.schema_version() == 0
        finally:
            await holder._close_pool(pool)
        assert await store.upgrade() == [1, 2, 3, 4]  # the lock went with its connection
