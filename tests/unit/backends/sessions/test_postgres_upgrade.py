"""Migration 3 of the Postgres session store (HOT updates: sessions_by_user and
sessions_by_age dropped, fillfactor 70 on sessions and leases) applied by `upgrade` to a
database at version 2, in a Postgres schema of its own (`search_path`, dropped after): the
store refuses to open until upgraded, the upgrade applies 3 only, what was stored is kept,
and the appends' session-row updates, not HOT before, are HOT after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.backends.sessions import _postgres_sql, open_session_store, postgres
from agenthost.core.errors import ConfigError
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.session import SessionKey
from tests.contract.server_stores import server_url
from tests.contract.test_session_plans import hot_appends

PREFIX = "agenthost_"
KEY = SessionKey("app", "u", "kept")


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    """A URL whose tables live in a fresh schema (dropped with everything in it after)."""
    import asyncpg

    base = server_url("postgres")
    schema = f"upgrade_{uuid.uuid4().hex[:10]}"  # (pg_ names are reserved)
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    except BaseException:
        await conn.close()
        raise
    try:
        yield f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def _indexes(conn: Any) -> set[str]:
    rows = await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND schemaname = current_schema()",
        f"{PREFIX}sessions",
    )
    return {r[0] for r in rows}


async def test_upgrade_2_to_3_keeps_the_data_and_makes_appends_hot(
    schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncpg

    with monkeypatch.context() as patch:
        patch.setattr(_postgres_sql, "MIGRATIONS", _postgres_sql.MIGRATIONS[:2])
        patch.setattr(postgres, "LATEST", 2)
        old: Any = open_session_store(f"{schema_url}&migrate=true")
        async with old:  # a version 2 database in use: a session, a lease
            session = await old.create(KEY)
            await old.create(SessionKey("app", "u", "s0"))  # hot_appends' session
            await old.append(
                session, [Event(id=new_id(), run_id="r", author="agent", type="run.started")]
            )
            assert await old.leases().acquire("a-lease", "h", ttl=60.0) is not None
    conn = await asyncpg.connect(schema_url)
    try:
        assert f"{PREFIX}sessions_by_user" in await _indexes(conn)
        assert await hot_appends(conn, PREFIX) == (20, 0)  # updated_at is indexed: never HOT
        with pytest.raises(ConfigError, match="agenthost db upgrade"):
            await open_session_store(schema_url).open()
        store: Any = open_session_store(schema_url)
        assert await store.schema_version() == 2
        assert await store.upgrade() == [3]
        assert await store.upgrade() == []
        assert await _indexes(conn) == {
            f"{PREFIX}sessions_pkey",
            f"{PREFIX}sessions_app_user_id_session_id_key",
        }
        for table in ("sessions", "leases"):
            options = await conn.fetchval(
                "SELECT reloptions FROM pg_class WHERE oid = $1::regclass", PREFIX + table
            )
            assert "fillfactor=70" in options, table
        assert await hot_appends(conn, PREFIX) == (20, 20)
        async with open_session_store(schema_url) as opened:
            await opened.check()
            kept = await opened.get(KEY)
            assert kept is not None and len(kept.events) == 1
            assert (await opened.leases().current("a-lease")) is not None
    finally:
        await conn.close()
