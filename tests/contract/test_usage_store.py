"""One suite for every usage store (ports/usage.py): memory, SQLite (a file, shared with the
session store's tables), Postgres, MySQL/MariaDB, Redis (the servers are skipped on a laptop
without them, failing under CI=true)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.backends.usage import open_usage_store
from agenthost.config._metering import open_usage
from agenthost.config.loader import parse_config
from agenthost.core.errors import ConfigError
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery, UsageStore

from .server_stores import private_server, server_url


async def drop(store: Any) -> None:
    await (store.drop_keys() if hasattr(store, "drop_keys") else store.drop_table())


def rec(run_id: str, **fields: object) -> UsageRecord:
    values: dict[str, object] = {
        "run_id": run_id,
        "app": "shop/helper",
        "agent": "helper",
        "user_id": "alice",
        "session_id": "s1",
        "started_at": 1000.0,
        "finished_at": 1001.0,
        "status": "completed",
        "input_tokens": 10,
        "output_tokens": 5,
        "requests": 1,
        "cost": 0.5,
    }
    values.update(fields)
    return UsageRecord(**values)  # type: ignore[arg-type]


SERVERS = ("postgres", "mysql", "redis")


@pytest.fixture(params=["memory", "sqlite", *SERVERS])
async def usage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageStore]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/agenthost.db"
    else:  # a private table (keys on Redis), dropped at the end
        option = "key_prefix" if request.param == "redis" else "table_prefix"
        url = f"{server_url(request.param)}?{option}=t{uuid.uuid4().hex[:12]}_&migrate=true"
    store = open_usage_store(url)
    async with store:
        yield store
        if request.param in SERVERS:
            await drop(store)


async def test_records_sums_and_filters(usage: UsageStore) -> None:
    await usage.record(rec("r1"))
    await usage.record(rec("r2", session_id="s2", started_at=2000.0, cost=0.25))
    await usage.record(rec("r3", user_id="bob", app="shop/other", started_at=3000.0, cost=1.0))
    await usage.record(rec("r4", app="shopping/x", started_at=4000.0, cost=2.0))
    assert await usage.total_cost(UsageQuery()) == pytest.approx(3.75)
    assert await usage.total_cost(UsageQuery(user_id="alice")) == pytest.approx(2.75)
    assert await usage.total_cost(UsageQuery(app="shop/helper")) == pytest.approx(0.75)
    # a prefix matches the apps that start with it, not "shopping/"
    assert await usage.total_cost(UsageQuery(app_prefix="shop/")) == pytest.approx(1.75)
    assert await usage.total_cost(UsageQuery(session_id="s2")) == pytest.approx(0.25)
    assert await usage.total_cost(UsageQuery(since=2000.0, until=4000.0)) == pytest.approx(1.25)
    assert await usage.total_cost(UsageQuery(user_id="nobody")) == 0.0
    found = await usage.records(UsageQuery(user_id="alice"))
    assert [r.run_id for r in found] == ["r1", "r2", "r4"]  # oldest first
    assert found[0] == rec("r1")
    assert [r.run_id for r in await usage.records(UsageQuery(), limit=2)] == ["r3", "r4"]


async def test_recording_a_run_again_replaces_it(usage: UsageStore) -> None:
    await usage.record(rec("r1", status="paused", cost=0.1))
    await usage.record(rec("r1", status="completed", cost=0.3))
    assert [(r.status, r.cost) for r in await usage.records(UsageQuery())] == [("completed", 0.3)]
    # recorded again for another user and session, it leaves the first ones' sums
    await usage.record(rec("r1", user_id="bob", session_id="s9", cost=0.7))
    assert await usage.total_cost(UsageQuery(user_id="alice")) == 0.0
    assert await usage.total_cost(UsageQuery(session_id="s1")) == 0.0
    assert await usage.total_cost(UsageQuery(user_id="bob")) == pytest.approx(0.7)
    assert [r.session_id for r in await usage.records(UsageQuery())] == ["s9"]


async def test_records_made_at_once_are_all_stored(usage: UsageStore) -> None:
    """Runs ending together (the Postgres and MySQL stores write them in batches)."""
    await asyncio.gather(*(usage.record(rec(f"r{i}", cost=1.0)) for i in range(40)))
    await asyncio.gather(*(usage.record(rec(f"r{i}", cost=2.0)) for i in range(0, 40, 2)))
    found = await usage.records(UsageQuery())
    assert sorted(r.run_id for r in found) == sorted(f"r{i}" for i in range(40))
    assert await usage.total_cost(UsageQuery()) == pytest.approx(60.0)


async def test_app_names_with_sql_wildcards_are_matched_literally(usage: UsageStore) -> None:
    await usage.record(rec("r1", app="a%b/x"))
    await usage.record(rec("r2", app="aXb/x"))
    assert [r.run_id for r in await usage.records(UsageQuery(app_prefix="a%b/"))] == ["r1"]


async def test_sqlite_usage_lives_in_the_session_stores_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/agenthost.db"
    async with open_session_store(url), open_usage_store(url) as usage:
        await usage.record(rec("r1"))
    async with open_usage_store(url) as again:
        assert [r.run_id for r in await again.records(UsageQuery())] == ["r1"]


@pytest.mark.parametrize("server", SERVERS)
async def test_server_usage_follows_the_session_stores_url(server: str) -> None:
    # the session store's URL, with its own options (migrate=true), serves the usage store
    async with private_server(server) as url, open_session_store(url):
        usage = open_usage_store(url)
        async with usage:
            try:
                await usage.record(rec("r1"))
                async with open_usage_store(url) as again:
                    assert [r.run_id for r in await again.records(UsageQuery())] == ["r1"]
            finally:
                await drop(usage)


@pytest.mark.parametrize("server", SERVERS)
async def test_a_config_keeps_usage_in_its_server_store_by_default(
    server: str, tmp_path: Path
) -> None:
    async with private_server(server) as url:
        config = parse_config({"store": {"url": url}}, env={})
        async with open_usage(config, tmp_path) as usage:
            assert usage is not None and server in type(usage).__name__.lower()
            try:
                await usage.record(rec("r1"))
                async with open_usage_store(url) as again:
                    assert await again.total_cost(UsageQuery(user_id="alice")) == 0.5
            finally:
                await drop(usage)


def test_a_scheme_without_a_usage_store_is_an_error_that_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"usage\.url"):
        open_usage_store("mongodb://127.0.0.1:27017/agenthost")
