"""The artifact, usage and knowledge stores on the real Postgres and MariaDB: versioned
migrations (backends/common/migrations.py), the start-up refusal, `agenthost db`, and the
default stores that follow `store.url` (config/store_urls.py). Every test works under its own
table prefix and drops it (tests/contract/server_stores.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agenthost.backends.artifacts import open_artifact_store
from agenthost.backends.common.migrations import Step
from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.usage import open_usage_store
from agenthost.cli.app import app
from agenthost.config._metering import open_usage
from agenthost.config.build import open_artifacts
from agenthost.config.knowledge import open_knowledge
from agenthost.config.loader import parse_config
from agenthost.core.errors import ConfigError
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

from .server_stores import drop, private_url

S = {"app": "app", "user_id": "ann", "session_id": "s1"}
RECORD = UsageRecord(
    run_id="r1",
    app="a/b",
    agent="b",
    user_id="ann",
    session_id="s1",
    started_at=1.0,
    finished_at=2.0,
    status="completed",
    input_tokens=1,
    output_tokens=1,
    requests=1,
    cost=0.5,
)


async def _use_artifacts(store: Any) -> None:
    await store.save(**S, name="a.txt", data=b"kept")
    loaded = await store.load(**S, name="a.txt")
    assert loaded is not None and loaded.data == b"kept"


async def _use_usage(store: Any) -> None:
    await store.record(RECORD)
    assert await store.total_cost(UsageQuery(user_id="ann")) == 0.5


async def _use_knowledge(store: Any) -> None:
    await store.create("ann", "docs", exist_ok=True)
    await store.add("ann", "docs", "cats.md", "Cats purr when they are content.")
    found = await store.search("ann", "docs", "purr", mode="text")
    assert [c.document for c in found] == ["cats.md"]


STORES: dict[str, tuple[Callable[[str], Any], Callable[[Any], Awaitable[None]]]] = {
    "artifacts": (open_artifact_store, _use_artifacts),
    "usage": (open_usage_store, _use_usage),
    "knowledge": (open_knowledge_store, _use_knowledge),
}
CASES = [
    ("artifacts", "postgres"),
    ("artifacts", "mysql"),
    ("usage", "postgres"),
    ("usage", "mysql"),
    ("knowledge", "postgres"),
]


def _plain(url: str) -> str:
    return url.replace("&migrate=true", "")


async def _opened_use(kind: str, url: str) -> None:
    opener, use = STORES[kind]
    async with opener(url) as store:
        await use(store)


@pytest.mark.parametrize(("kind", "server"), CASES)
async def test_fresh_database_refused_then_upgraded_once_then_works(kind: str, server: str) -> None:
    url, _ = private_url(server)
    plain = _plain(url)
    opener, _ = STORES[kind]
    try:
        with pytest.raises(ConfigError, match=r"has no agenthost schema yet.*agenthost db upgrade"):
            await _opened_use(kind, plain)
        store: Any = opener(plain)
        assert await store.schema_version() == 0
        assert await store.upgrade() == [1]
        assert await store.upgrade() == []  # twice: a no-op
        assert await store.schema_version() == 1 == store.schema_latest
        await _opened_use(kind, plain)
    finally:
        await drop(url)


@pytest.mark.parametrize(("kind", "server"), CASES)
async def test_a_database_at_an_older_version_is_refused_until_upgraded(
    kind: str, server: str
) -> None:
    """This agenthost needs a step 2 the database lacks: open names both versions and the
    command; the upgrade applies only 2 and what was stored at 1 is still there."""
    url, _ = private_url(server)
    plain = _plain(url)
    opener, use = STORES[kind]
    try:
        await _opened_use(kind, url)  # migrate=true: at version 1, with data
        newer: Any = opener(plain)
        table = "usage" if kind == "usage" else "kb_bases" if kind == "knowledge" else kind
        name = "`{p}usage`" if kind == "usage" and server == "mysql" else "{p}" + table
        step = Step(2, "an index", (f"CREATE INDEX {{p}}later ON {name} (app)",))
        if kind == "knowledge":
            step = Step(2, "an index", ("CREATE INDEX {p}later ON {p}kb_bases (name)",))
        newer._schema = dataclasses.replace(newer._schema, steps=(*newer._schema.steps, step))
        with pytest.raises(ConfigError, match=r"is at schema version 1; .* needs version 2"):
            await newer.__aenter__()
        assert await newer.upgrade() == [2]
        async with newer:
            await use(newer)  # the same data again: replaced or skipped, no error
        # and the agenthost of version 1 refuses the newer database
        with pytest.raises(ConfigError, match=r"schema version 2, newer than"):
            await _opened_use(kind, plain)
    finally:
        await drop(url)


@pytest.mark.parametrize("server", ["postgres", "mysql"])
def test_cli_db_upgrades_every_store_of_the_config(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    url, _ = private_url(server)
    config = tmp_path / "agenthost.yaml"
    config.write_text(f"store:\n  url: '{_plain(url)}'\n")
    runner = CliRunner()
    servers = ["sessions", "artifacts", "usage"] + (["knowledge"] if server == "postgres" else [])
    try:
        status = runner.invoke(app, ["db", "status", "--config", str(config)])
        assert status.exit_code == 1, status.output
        for role in servers:
            assert f"{role} (" in status.output
        assert status.output.count("schema version 0") == len(servers), status.output
        done = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
        assert done.exit_code == 0, done.output
        assert done.output.count("applied migrations") == len(servers), done.output
        again = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
        assert again.exit_code == 0 and "applied" not in again.output, again.output
        status = runner.invoke(app, ["db", "status", "--config", str(config)])
        assert status.exit_code == 0, status.output
        assert status.output.count("up to date") == len(servers), status.output

        async def every_store_works() -> None:
            loaded = parse_config({"store": {"url": _plain(url)}}, env={})
            async with open_artifacts(loaded, home=tmp_path) as artifacts:
                await _use_artifacts(artifacts)
            async with open_usage(loaded, tmp_path) as usage:
                await _use_usage(usage)
            if server == "postgres":
                async with open_knowledge(loaded, home=tmp_path) as knowledge:
                    await _use_knowledge(knowledge)

        asyncio.run(every_store_works())
    finally:
        asyncio.run(drop(url))


@pytest.mark.parametrize("server", ["postgres", "mysql"])
async def test_start_up_refuses_stores_behind_the_session_store(
    server: str, tmp_path: Path
) -> None:
    """Sessions upgraded (as an older agenthost's `db upgrade` left them) but not the stores
    that follow store.url: opening the config's stores refuses, naming the command."""
    from agenthost.backends.sessions import open_session_store

    url, _ = private_url(server)
    config = parse_config({"store": {"url": _plain(url)}}, env={})
    try:
        sessions: Any = open_session_store(_plain(url))
        await sessions.upgrade()
        with pytest.raises(ConfigError, match=r"artifact store .*agenthost db upgrade"):
            async with open_artifacts(config, home=tmp_path):
                pass
        with pytest.raises(ConfigError, match=r"usage store .*agenthost db upgrade"):
            async with open_usage(config, tmp_path):
                pass
        if server == "postgres":
            with pytest.raises(ConfigError, match=r"knowledge store .*agenthost db upgrade"):
                async with open_knowledge(config, home=tmp_path):
                    pass
    finally:
        await drop(url)


# ---- the default stores follow store.url --------------------------------------------------


@pytest.mark.parametrize("server", ["postgres", "mysql"])
async def test_artifacts_and_usage_follow_a_server_store(server: str, tmp_path: Path) -> None:
    url, _ = private_url(server)
    config = parse_config({"store": {"url": url}}, env={})
    try:
        async with open_artifacts(config, home=tmp_path) as artifacts:
            assert server in type(artifacts).__name__.lower()
            await _use_artifacts(artifacts)
        async with open_usage(config, tmp_path) as usage:
            assert usage is not None and server in type(usage).__name__.lower()
            await _use_usage(usage)
        # written to the database, under the store's prefix (read back by a store of its own)
        async with open_artifact_store(url) as again:
            assert [i.name for i in await again.list(**S)] == ["a.txt"]
        assert not (tmp_path / "artifacts").exists()
    finally:
        await drop(url)


async def test_knowledge_follows_a_postgres_store(tmp_path: Path) -> None:
    url, prefix = private_url("postgres")
    config = parse_config({"store": {"url": url}}, env={})
    try:
        async with open_knowledge(config, home=tmp_path) as knowledge:
            assert type(knowledge).__name__ == "PostgresKnowledgeStore"
            assert knowledge.prefix == prefix  # type: ignore[attr-defined]
            await _use_knowledge(knowledge)
        assert not (tmp_path / "knowledge.db").exists()
    finally:
        await drop(url)


async def test_a_sqlite_store_keeps_artifacts_in_its_file_and_knowledge_beside_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "agenthost.db"
    db.parent.mkdir()
    config = parse_config({"store": {"url": f"sqlite:///{db}"}}, env={})
    async with open_artifacts(config, home=tmp_path / "home") as artifacts:
        assert type(artifacts).__name__ == "SQLiteArtifactStore"
        await _use_artifacts(artifacts)
    async with open_knowledge(config, home=tmp_path / "home") as knowledge:
        await _use_knowledge(knowledge)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM agenthost_artifacts").fetchall() == [("a.txt",)]
    assert (db.parent / "knowledge.db").exists()
    assert not (tmp_path / "home").exists()


async def test_memory_store_keeps_everything_in_memory(tmp_path: Path) -> None:
    config = parse_config({"store": {"url": "memory://"}}, env={})
    async with open_artifacts(config, home=tmp_path) as artifacts:
        assert type(artifacts).__name__ == "MemoryArtifactStore"
    async with open_usage(config, tmp_path) as usage:
        assert type(usage).__name__ == "MemoryUsageStore"
    async with open_knowledge(config, home=tmp_path) as knowledge:
        assert knowledge.path == ":memory:"  # type: ignore[attr-defined]
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))


async def test_no_store_url_keeps_the_documented_defaults(tmp_path: Path) -> None:
    config = parse_config({}, env={})
    async with open_artifacts(config, home=tmp_path) as artifacts:
        assert artifacts.root == tmp_path / "artifacts"  # type: ignore[attr-defined]


async def test_redis_store_keeps_artifacts_and_knowledge_in_local_files_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from agenthost.config import store_urls

    store_urls._warned.clear()
    config = parse_config({"store": {"url": "redis://127.0.0.1:6379/0"}}, env={})
    with caplog.at_level(logging.WARNING, logger="agenthost.config"):
        assert store_urls.artifacts_url(config, tmp_path) == f"file://{tmp_path / 'artifacts'}"
        assert store_urls.knowledge_url(config, tmp_path) == f"sqlite:///{tmp_path}/knowledge.db"
    said = caplog.text
    assert "artifacts: the redis:// store has no artifacts backend" in said
    assert "set artifacts.url to share them across replicas" in said
    assert "knowledge bases: the redis:// store has no knowledge bases backend" in said
    # MySQL keeps artifacts in its database, but has no knowledge backend
    mysql = parse_config({"store": {"url": "mysql://root@127.0.0.1/test"}}, env={})
    with caplog.at_level(logging.WARNING, logger="agenthost.config"):
        assert store_urls.artifacts_url(mysql, tmp_path) == "mysql://root@127.0.0.1/test"
        assert store_urls.knowledge_url(mysql, tmp_path) == f"sqlite:///{tmp_path}/knowledge.db"
    assert "the mysql:// store has no knowledge bases backend" in caplog.text
    assert "set knowledge.url" in caplog.text


def test_an_explicit_url_wins(tmp_path: Path) -> None:
    from agenthost.config.store_urls import artifacts_url, knowledge_url

    config = parse_config(
        {
            "store": {"url": "postgresql://db/x"},
            "artifacts": {"url": "memory://"},
            "knowledge": {"url": f"sqlite:///{tmp_path}/k.db"},
        },
        env={},
    )
    assert artifacts_url(config, tmp_path) == "memory://"
    assert knowledge_url(config, tmp_path) == f"sqlite:///{tmp_path}/k.db"
