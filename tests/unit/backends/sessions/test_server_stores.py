"""Postgres, MySQL and Redis stores beyond the contract: migrations, the start-up refusal,
`agenthost db`, Redis TTLs, option validation (servers: tests/contract/server_stores.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agenthost.backends.sessions import open_session_store
from agenthost.cli.app import app
from agenthost.core.errors import ConfigError, InvalidArgument
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.session import SessionKey
from tests.contract.server_stores import drop, private_url

SERVERS = ["postgres", "mysql", "redis"]
# 2: channel tables; Postgres 3: HOT updates (indexes dropped, fillfactor); MySQL 3: the
# lease waiters' queue (Postgres makes it on first use); MySQL 4: the sessions indexes dropped
MIGRATIONS = {"postgres": [1, 2, 3], "mysql": [1, 2, 3, 4], "redis": [1]}
KEY = SessionKey("app", "alice", "s1")


def _without_migrate(url: str) -> str:
    return url.replace("&migrate=true", "")


@pytest.mark.parametrize("name", SERVERS)
async def test_open_refuses_a_database_without_the_schema_until_upgraded(name: str) -> None:
    url, _ = private_url(name)
    plain = _without_migrate(url)
    try:
        with pytest.raises(ConfigError, match="agenthost db upgrade"):
            await open_session_store(plain).open()
        store: Any = open_session_store(plain)
        assert await store.schema_version() == 0
        assert await store.upgrade() == MIGRATIONS[name]
        assert await store.upgrade() == []  # idempotent
        assert await store.schema_version() == MIGRATIONS[name][-1]
        async with open_session_store(plain) as opened:
            await opened.check()
            await opened.create(KEY)
            assert await opened.get(KEY) is not None
    finally:
        await drop(url)


@pytest.mark.parametrize("name", ["postgres", "mysql"])
async def test_a_version_1_database_gets_the_channel_tables_by_upgrade(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database made before the channel tables (migration 1 only) is refused until
    upgraded; the upgrade applies only 2, and what was stored before is still there."""
    from agenthost.backends.sessions import _mysql_sql, _postgres_sql, mysql, postgres
    from agenthost.backends.sessions.channel_store import channel_store_for
    from agenthost.ports.channels import InboundMessage

    module: Any = _postgres_sql if name == "postgres" else _mysql_sql
    assert (postgres.LATEST, mysql.LATEST) == (3, 4)  # imported before the patch below
    url, _ = private_url(name)
    plain = _without_migrate(url)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:1])
            old: Any = open_session_store(plain)
            assert await old.upgrade() == [1]
        with pytest.raises(ConfigError, match="agenthost db upgrade"):
            await open_session_store(plain).open()
        store: Any = open_session_store(plain)
        assert await store.schema_version() == 1
        assert await store.upgrade() == MIGRATIONS[name][1:]
        async with open_session_store(plain) as opened:
            await opened.check()
            inbound = InboundMessage(id="1", conversation="c", text="hi", input="in")
            assert await channel_store_for(opened).accept(inbound)
    finally:
        await drop(url)


@pytest.mark.parametrize("name", SERVERS)
def test_cli_db_upgrade_and_status(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    url, _ = private_url(name)
    plain = _without_migrate(url)
    config = tmp_path / "agenthost.yaml"
    config.write_text(f"store:\n  url: '{plain}'\n")
    runner = CliRunner()
    try:
        status = runner.invoke(app, ["db", "status", "--config", str(config)])
        assert status.exit_code == 1, status.output
        assert "schema version 0" in status.output and "agenthost db upgrade" in status.output
        done = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
        assert done.exit_code == 0, done.output
        assert f"applied migrations {MIGRATIONS[name]}" in done.output
        again = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
        assert f"already at schema version {MIGRATIONS[name][-1]}" in again.output
        status = runner.invoke(app, ["db", "status", "--config", str(config)])
        assert status.exit_code == 0 and "up to date" in status.output
    finally:
        asyncio.run(drop(url))


def test_cli_db_upgrade_on_sqlite_has_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    config = tmp_path / "agenthost.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path}/x.db\n")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert done.exit_code == 0
    assert "creates its own schema" in done.output


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("postgresql://h/db?table_prefix=x;drop", "table_prefix"),
        ("mysql://root@h/db?table_prefix=1x", "table_prefix"),
        ("redis://h/0?key_prefix=a*", "key_prefix"),
        ("postgresql://h/db?migrate=maybe", "migrate"),
        ("mysql://root@h/db?pool_size=0", "pool_size"),
    ],
)
def test_bad_options_name_the_field(url: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        open_session_store(url)
    assert info.value.field == field


def test_mysql_url_needs_a_database() -> None:
    with pytest.raises(ConfigError, match="names no database"):
        open_session_store("mysql://root@127.0.0.1:3306/")


async def test_redis_ttl_is_a_real_expiry_refreshed_by_append() -> None:
    from redis.asyncio import Redis

    url, prefix = private_url("redis")
    client = Redis.from_url(url.split("?")[0])
    try:
        async with open_session_store(url, ttl_seconds=600) as store:
            session = await store.create(KEY)
            meta = f"{prefix}s:app:alice:s1"
            assert 0 < await client.pttl(meta) <= 600_000
            await client.pexpire(meta, 5_000)
            await store.append(
                session,
                [Event(id=new_id(), run_id="r", author="agent", type="run.started")],
            )
            assert await client.pttl(meta) > 5_000  # refreshed
            assert await client.pttl(f"{prefix}e:app:alice:s1") > 5_000
    finally:
        await client.aclose()
        await drop(url)


@pytest.mark.parametrize(
    ("example", "cls", "prefix"),
    [
        ("postgres.yaml", "PostgresSessionStore", "agenthost_"),
        ("mysql.yaml", "MySQLSessionStore", "prod_"),
        ("redis.yaml", "RedisSessionStore", "agents:"),
    ],
)
def test_example_configs_build_their_store(example: str, cls: str, prefix: str) -> None:
    from agenthost.config.loader import load_config

    root = Path(__file__).resolve().parents[4]
    config = load_config(root / "examples" / "stores" / example)
    assert config.store.url is not None
    store: Any = open_session_store(config.store.url)
    assert type(store).__name__ == cls
    assert store.prefix == prefix
    assert "secret" not in repr(store)
