"""Session stores chosen by URL, through one registry.

    memory://                  MemorySessionStore: this process only, lost at exit
    sqlite:///agenthost.db     SQLiteSessionStore (the default): a file relative to the cwd
    sqlite:////var/lib/a.db    ... an absolute path (four slashes)
    sqlite://:memory:          ... a private in-memory SQLite database (also sqlite:///:memory:)

    postgresql://user@host/db  PostgresSessionStore (extra `postgres`; also postgres://)
    mysql://user@host/db       MySQLSessionStore (extra `mysql`; also mariadb://)
    redis://host:6379/0        RedisSessionStore (extra `redis`; also rediss:// for TLS)

The server stores take `?table_prefix=` (`?key_prefix=` on Redis) and `?migrate=true` in the
URL; see docs/stores.md. Backends are imported only when a URL needs them. An unknown
scheme raises UnknownBackendError listing the registered ones; nothing falls back to memory.

Every store also implements the KeyValueStore port, `purge_expired()` and `check()` (readiness);
the options all backends accept are `max_events`, `ttl_seconds` and `clock` (see
`_common.StoreOptions`).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode

from agenthost.core.errors import (
    ConfigError,
    InvalidArgument,
    MissingExtraError,
    UnknownBackendError,
    redact_url,
)
from agenthost.ports.sessions import KeyValueStore, SessionStore

if TYPE_CHECKING:
    from agenthost.backends.sessions.memory import MemorySessionStore
    from agenthost.backends.sessions.sqlite import SQLiteSessionStore

__all__ = [
    "MemorySessionStore",
    "SQLiteSessionStore",
    "SessionBackend",
    "SessionBackendFactory",
    "open_session_store",
    "redact_store_url",
    "register_session_backend",
    "registered_session_schemes",
]

logger = logging.getLogger("agenthost.sessions")


@runtime_checkable
class SessionBackend(SessionStore, KeyValueStore, Protocol):
    """What `open_session_store` returns: a session store that is also a KV store."""

    async def purge_expired(self) -> int:
        """Delete every session expired by TTL; returns how many were deleted."""
        ...

    async def check(self) -> None:
        """Readiness: return when the store is usable, else raise StoreError saying why (closed,
        unreachable, its file deleted or replaced, damaged). Cheap enough for every probe."""
        ...

    async def open(self) -> SessionBackend:
        """Connect (what `async with` does on entry); a no-op when already open."""
        ...

    async def aclose(self) -> None:
        """Close what `open` opened (what `async with` does on exit)."""
        ...

    async def __aenter__(self) -> SessionBackend: ...


SessionBackendFactory = Callable[..., SessionBackend]
"""`factory(url, **options)`: build (not yet open) a store for a URL of its scheme."""


class _Lazy:
    """A factory named by 'module:attr.path', imported on first use."""

    def __init__(self, target: str, extra: str | None) -> None:
        self.target = target
        self.extra = extra

    def load(self, scheme: str) -> SessionBackendFactory:
        module_name, _, attr_path = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            if missing == module_name or module_name.startswith(missing + "."):
                raise ConfigError(
                    f"The {scheme}:// session store is registered as {self.target!r}, but "
                    f"module {module_name!r} does not exist. Fix the registration."
                ) from exc
            raise MissingExtraError(
                f"The {scheme}:// session store", self.extra or scheme, missing
            ) from exc
        for part in attr_path.split("."):
            obj = getattr(obj, part)
        factory: SessionBackendFactory = obj
        return factory


_PG = "agenthost.backends.sessions.postgres:PostgresSessionStore.from_url"
_MYSQL = "agenthost.backends.sessions.mysql:MySQLSessionStore.from_url"
_REDIS = "agenthost.backends.sessions.redis:RedisSessionStore.from_url"

_registry: dict[str, SessionBackendFactory | _Lazy] = {
    "memory": _Lazy("agenthost.backends.sessions.memory:MemorySessionStore.from_url", None),
    "sqlite": _Lazy("agenthost.backends.sessions.sqlite:SQLiteSessionStore.from_url", None),
    "postgresql": _Lazy(_PG, "postgres"),
    "postgres": _Lazy(_PG, "postgres"),
    "mysql": _Lazy(_MYSQL, "mysql"),
    "mariadb": _Lazy(_MYSQL, "mysql"),
    "redis": _Lazy(_REDIS, "redis"),
    "rediss": _Lazy(_REDIS, "redis"),
}

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")


def register_session_backend(
    scheme: str, factory: SessionBackendFactory | str, *, extra: str | None = None
) -> None:
    """Make `scheme://...` URLs open with `factory(url, **options)`.

    `factory` may be a callable or a 'package.module:Class.from_url' string imported on first
    use; `extra` names the agenthost extra that installs its dependencies (for the error when
    they are missing). Registering a scheme again replaces the previous factory.
    """
    scheme = scheme.lower()
    if not _SCHEME.fullmatch(scheme):
        raise InvalidArgument("scheme", f"{scheme!r} is not a URL scheme (e.g. 'postgresql')")
    if isinstance(factory, str):
        if ":" not in factory:
            raise InvalidArgument(
                "factory", f"{factory!r} must be 'package.module:attribute' or a callable"
            )
        _registry[scheme] = _Lazy(factory, extra)
    elif callable(factory):
        _registry[scheme] = factory
    else:
        raise InvalidArgument("factory", f"must be a callable or a string, got {factory!r}")


def registered_session_schemes() -> list[str]:
    return sorted(_registry)


def open_session_store(url: str, **options: Any) -> SessionBackend:
    """The store for `url`, not yet open: use it as `async with open_session_store(url) as s:`.

    Options every backend accepts: `max_events: int | None` (keep the newest N events of a
    session), `ttl_seconds: float | None` (expire sessions not updated for that long), `clock`
    (a `() -> float` seconds source, for tests). Backends take their own extra options (SQLite:
    `cache_size`, `busy_timeout`).
    """
    if not isinstance(url, str) or not url:
        raise InvalidArgument("url", f"a store URL such as 'sqlite:///agenthost.db', got {url!r}")
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme.lower()):
        shown = redact_store_url(url)
        raise ConfigError(
            f"Store URL {shown!r} has no scheme. Write 'sqlite:///{shown}' for a "
            f"SQLite file, 'memory://' for a throwaway store, or one of "
            f"{', '.join(s + '://' for s in registered_session_schemes())}."
        )
    scheme = scheme.lower()
    entry = _registry.get(scheme)
    if entry is None:
        raise UnknownBackendError(url, scheme, _registry)
    factory = entry.load(scheme) if isinstance(entry, _Lazy) else entry
    logger.debug("session store %s", redact_store_url(url))
    return factory(url, **options)


_SECRET_PARAMS = re.compile(r"pass(word|wd)?|pwd|secret|token|api[_-]?key|key|auth", re.I)


def redact_store_url(url: str) -> str:
    """`url` safe for logs: the password and secret-looking query parameters hidden."""
    url = redact_url(url)
    base, sep, query = url.partition("?")
    if not sep:
        return url
    pairs = [
        (k, "***" if _SECRET_PARAMS.fullmatch(k) else v)
        for k, v in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{base}?{urlencode(pairs, safe='*')}"


def __getattr__(name: str) -> Any:
    if name == "MemorySessionStore":
        from agenthost.backends.sessions.memory import MemorySessionStore

        return MemorySessionStore
    if name == "SQLiteSessionStore":
        from agenthost.backends.sessions.sqlite import SQLiteSessionStore

        return SQLiteSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
