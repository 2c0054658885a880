"""Artifact stores chosen by URL.

    file:///var/lib/agenthost/artifacts   FileArtifactStore (the default: under
                                          $AGENTHOST_HOME/artifacts); a plain path works too
    sqlite:///agenthost.db                SQLiteArtifactStore: a blob table, e.g. in the session
                                          store's own file (sqlite:////abs/path.db: absolute)
    memory://                             MemoryArtifactStore: this process only
    postgresql://user@host/db             PostgresArtifactStore (extra `postgres`): a bytea
                                          table, e.g. in the session store's database
    mysql://user:pw@host/db               MySQLArtifactStore (extra `mysql`; also mariadb://):
                                          a LONGBLOB table

An unknown scheme raises UnknownBackendError listing these; nothing falls back to memory.
Backends are imported only when a URL needs them.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from agenthost.core.errors import InvalidArgument, MissingExtraError, UnknownBackendError
from agenthost.ports.artifacts import ArtifactStore

if TYPE_CHECKING:
    from agenthost.backends.artifacts.files import FileArtifactStore
    from agenthost.backends.artifacts.memory import MemoryArtifactStore
    from agenthost.backends.artifacts.mysql import MySQLArtifactStore
    from agenthost.backends.artifacts.postgres import PostgresArtifactStore
    from agenthost.backends.artifacts.sqlite import SQLiteArtifactStore

__all__ = [
    "FileArtifactStore",
    "MemoryArtifactStore",
    "MySQLArtifactStore",
    "PostgresArtifactStore",
    "SQLiteArtifactStore",
    "open_artifact_store",
]

_CLASSES = {
    "FileArtifactStore": "files",
    "MemoryArtifactStore": "memory",
    "MySQLArtifactStore": "mysql",
    "PostgresArtifactStore": "postgres",
    "SQLiteArtifactStore": "sqlite",
}
SCHEMES = ("file", "mariadb", "memory", "mysql", "postgres", "postgresql", "sqlite")
_SERVERS = {
    "postgresql": ("PostgresArtifactStore", "postgres", "asyncpg"),
    "postgres": ("PostgresArtifactStore", "postgres", "asyncpg"),
    "mysql": ("MySQLArtifactStore", "mysql", "asyncmy"),
    "mariadb": ("MySQLArtifactStore", "mysql", "asyncmy"),
}


def open_artifact_store(url: str) -> ArtifactStore:
    """The artifact store for `url` (not opened yet: use it as `async with`)."""
    if not isinstance(url, str) or not url:
        raise InvalidArgument("url", f"an artifact store URL such as 'file:///data', got {url!r}")
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "file", url  # a plain path
    scheme = scheme.lower()
    if scheme == "memory":
        return _load("MemoryArtifactStore")()  # type: ignore[no-any-return]
    if scheme == "file":
        if not rest:
            raise InvalidArgument("url", f"{url!r} names no directory (file:///path/to/dir)")
        return _load("FileArtifactStore")(rest)  # type: ignore[no-any-return]
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel, sqlite:////abs
        if path in ("", ":memory:"):
            path = ":memory:"
        return _load("SQLiteArtifactStore")(path)  # type: ignore[no-any-return]
    if scheme in _SERVERS:
        name, extra, driver = _SERVERS[scheme]
        if importlib.util.find_spec(driver) is None:
            raise MissingExtraError(f"The {scheme}:// artifact store", extra, driver)
        return _load(name)(url)  # type: ignore[no-any-return]
    raise UnknownBackendError(url, scheme, SCHEMES)


def _load(name: str) -> Any:
    module = importlib.import_module(f"agenthost.backends.artifacts.{_CLASSES[name]}")
    return getattr(module, name)


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return _load(name)
    raise AttributeError(name)
