"""Usage stores by URL: the same URL as the session store keeps the usage next to it.

    memory://                  MemoryUsageStore: this process only
    sqlite:///agenthost.db     SQLiteUsageStore: a `usage` table in that file (the default)
    postgresql://user@host/db  PostgresUsageStore (extra `postgres`): a `usage` table
    mysql://user@host/db       MySQLUsageStore (extra `mysql`; also mariadb://): a `usage` table
    redis://host:6379/0        RedisUsageStore (extra `redis`; also rediss://): a hash and
                               sorted sets by start time under the key prefix

A URL of another scheme has no usage store: give the config a `usage: {url: ...}` of one of
these. Backends are imported only when a URL needs them.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from agenthost.core.errors import ConfigError, InvalidArgument, MissingExtraError
from agenthost.ports.usage import UsageStore

__all__ = ["open_usage_store", "usage_schemes"]

_BACKENDS = {
    "memory": ("agenthost.backends.usage.memory", "MemoryUsageStore", None),
    "sqlite": ("agenthost.backends.usage.sqlite", "SQLiteUsageStore", None),
    "postgresql": ("agenthost.backends.usage.postgres", "PostgresUsageStore", "postgres"),
    "postgres": ("agenthost.backends.usage.postgres", "PostgresUsageStore", "postgres"),
    "mysql": ("agenthost.backends.usage.mysql", "MySQLUsageStore", "mysql"),
    "mariadb": ("agenthost.backends.usage.mysql", "MySQLUsageStore", "mysql"),
    "redis": ("agenthost.backends.usage.redis", "RedisUsageStore", "redis"),
    "rediss": ("agenthost.backends.usage.redis", "RedisUsageStore", "redis"),
}

_DRIVERS = {"postgres": "asyncpg", "mysql": "asyncmy", "redis": "redis"}


def usage_schemes() -> list[str]:
    return sorted(_BACKENDS)


def has_usage_store(url: str) -> bool:
    """Whether a usage store exists for the scheme of `url`."""
    return url.partition("://")[0].lower() in _BACKENDS


def open_usage_store(url: str, **options: Any) -> UsageStore:
    """The usage store for `url`, not yet open (`async with open_usage_store(url) as s:`)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgument("url", f"a store URL such as 'sqlite:///agenthost.db', got {url!r}")
    scheme = url.partition("://")[0].lower()
    entry = _BACKENDS.get(scheme)
    if entry is None:
        raise ConfigError(
            f"No usage store for {scheme}:// URLs; usage can be kept in "
            f"{', '.join(s + '://' for s in usage_schemes())}. Set usage.url in agenthost.yaml "
            f"(e.g. usage: {{url: sqlite:///usage.db}})."
        )
    module_name, attr, extra = entry
    driver = _DRIVERS.get(extra or "")
    if driver is not None and importlib.util.find_spec(driver) is None:
        raise MissingExtraError(f"The {scheme}:// usage store", extra or scheme, driver)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"The {scheme}:// usage store", extra or scheme, exc.name or module_name
        ) from exc
    store: UsageStore = getattr(module, attr).from_url(url, **options)
    return store
