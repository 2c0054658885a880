"""The database servers the store tests run against, and a private namespace per test.

URLs come from AGENTHOST_TEST_POSTGRES_URL, AGENTHOST_TEST_MYSQL_URL and
AGENTHOST_TEST_REDIS_URL (defaults: the services on 127.0.0.1). A test needing a server that
does not answer (or whose driver is not installed) is skipped, loudly, on a laptop, and FAILS
when CI=true: CI must never pass by skipping the server stores.

Every test gets its own table prefix (key prefix on Redis) and drops it at the end, so
parallel runs and leftovers of killed runs never collide.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agenthost.backends.sessions import open_session_store

SERVERS: dict[str, tuple[str, str, str]] = {
    # name: (env var, default URL, driver module)
    "postgres": (
        "AGENTHOST_TEST_POSTGRES_URL",
        "postgresql://postgres@127.0.0.1:5432/test",
        "asyncpg",
    ),
    "mysql": ("AGENTHOST_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test", "asyncmy"),
    "redis": ("AGENTHOST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", "redis"),
}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "redis": 6379}
_reachable: dict[str, str | None] = {}


def _unusable(name: str, url: str, driver: str) -> str | None:
    """Why the server cannot be used (None: it can)."""
    if importlib.util.find_spec(driver) is None:
        return f"driver {driver!r} is not installed (pip install -e '.[{name}]')"
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or _DEFAULT_PORTS[name]
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{name} at {host}:{port} is unreachable ({exc})"


def server_url(name: str) -> str:
    """The server's URL; skips (fails under CI=true) when it cannot be used."""
    env, default, driver = SERVERS[name]
    url = os.environ.get(env) or default
    if name not in _reachable:
        _reachable[name] = _unusable(name, url, driver)
    reason = _reachable[name]
    if reason is not None:
        message = f"!!! {name} store tests NOT RUN: {reason}. Set {env} to a reachable server."
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def private_url(name: str, **params: str) -> tuple[str, str]:
    """(a URL with a fresh table/key prefix and migrate=true, the prefix)."""
    url = server_url(name)
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    option = "key_prefix" if name == "redis" else "table_prefix"
    query = "&".join(f"{k}={v}" for k, v in {option: prefix, "migrate": "true", **params}.items())
    return f"{url}{'&' if '?' in url else '?'}{query}", prefix


async def drop(url: str) -> None:
    """Remove everything a test wrote under its prefix: the session store's tables (keys on
    Redis) and those of the artifact, usage and knowledge stores that follow its URL."""
    store: Any = open_session_store(url)
    await store.drop_tables()
    scheme = url.partition("://")[0]
    if scheme == "redis":
        return
    from agenthost.backends.artifacts import open_artifact_store
    from agenthost.backends.usage import open_usage_store

    others: list[Any] = [open_artifact_store(url), open_usage_store(url)]
    for other in others:
        await other.drop_table()
    if scheme.startswith("postgres"):
        from agenthost.backends.knowledge import open_knowledge_store

        knowledge: Any = open_knowledge_store(url)
        await knowledge.drop_tables()


@asynccontextmanager
async def private_server(name: str) -> AsyncIterator[str]:
    """A private URL on the server for the duration of the block, dropped after it."""
    url, _ = private_url(name)
    try:
        yield url
    finally:
        await drop(url)


async def cli_db_upgrade(home: Path, url: str) -> Any:
    """`agenthost db upgrade` on a config whose store is `url` (in `home`; the caller sets
    AGENTHOST_HOME), run in a thread (the command runs its own event loop): the Result."""
    from typer.testing import CliRunner

    from agenthost.cli.app import app

    config = home / "agenthost.yaml"
    config.write_text(f"store:\n  url: '{url}'\n")
    command = ["db", "upgrade", "--config", str(config)]
    return await asyncio.to_thread(CliRunner().invoke, app, command)
