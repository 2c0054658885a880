"""Where each store lives when the config does not say: it follows `store.url`.

    store.url                    artifacts                 usage        knowledge and memory
    (none: the home's SQLite)    files, $HOME/artifacts    that file    $HOME/knowledge.db
    sqlite:///dir/a.db           that file                 that file    dir/knowledge.db
    memory://, sqlite://:memory: memory://                 memory://    memory://
    postgresql://...             that database             that db      that database
    mysql:// (mariadb://)        that database             that db      $HOME/knowledge.db *
    redis://                     files, $HOME/artifacts *  Redis        $HOME/knowledge.db *

An explicit `artifacts.url`, `usage.url` or `knowledge.url` always wins. `*`: the store has no
such backend, so the data stays on this machine and a warning says so once per process (set
the URL to share it across replicas). Knowledge goes beside a SQLite session file rather than
into it: ingesting a folder writes for seconds, and the session store's writers would wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from agenthost.config.paths import default_store_url

if TYPE_CHECKING:
    from agenthost.config.schema import AgentHostConfig

log = logging.getLogger("agenthost.config")

_SERVERS: Final = ("postgresql", "postgres", "mysql", "mariadb")
_POSTGRES: Final = ("postgresql", "postgres", "postgresql+asyncpg")
_warned: set[tuple[str, str]] = set()


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def _sqlite_file(url: str) -> str | None:
    """The path of a `sqlite:///` URL (None for an in-memory database)."""
    rest = url.partition("://")[2].partition("?")[0]
    path = rest[1:] if rest.startswith("/") else rest
    return None if path in ("", ":memory:") else path


def _warn_local(what: str, store: str, where: str, field: str) -> None:
    key = (what, _scheme(store))
    if key in _warned:
        return
    _warned.add(key)
    log.warning(
        "%s: the %s:// store has no %s backend, so they are kept in %s, on this machine only; "
        "set %s to share them across replicas",
        what,
        key[1],
        what,
        where,
        field,
    )


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one store follows the session store's URL."""

    what: str  # for the warning
    field: str  # the config field that overrides it
    local: str  # where it is kept on this machine, under the home directory
    local_scheme: str  # "file" or "sqlite"
    servers: tuple[str, ...]  # schemes whose database it shares
    beside: bool  # SQLite: a `local` file beside the session file (else that file itself)

    def url(self, store: str | None, home: Path) -> str:
        default = self._local_url(home / self.local)
        if store is None:
            return default
        scheme = _scheme(store)
        if scheme in self.servers:
            return store
        if scheme in ("memory", "sqlite"):
            path = _sqlite_file(store) if scheme == "sqlite" else None
            if path is None:
                return "memory://"
            return f"sqlite:///{Path(path).parent / self.local if self.beside else path}"
        _warn_local(self.what, store, str(home / self.local), self.field)
        return default

    def _local_url(self, path: Path) -> str:
        return f"{self.local_scheme}://{'/' if self.local_scheme == 'sqlite' else ''}{path}"


_ARTIFACTS: Final = _Rule("artifacts", "artifacts.url", "artifacts", "file", _SERVERS, False)
_KNOWLEDGE: Final = _Rule(
    "knowledge bases", "knowledge.url", "knowledge.db", "sqlite", _POSTGRES, True
)


def artifacts_url(config: AgentHostConfig, home: Path) -> str:
    """`artifacts.url`; else the artifact store that follows `store.url` (module doc)."""
    return config.artifacts.url or _ARTIFACTS.url(config.store.url, home)


def knowledge_url(config: AgentHostConfig, home: Path) -> str:
    """`knowledge.url`; else the knowledge store that follows `store.url` (module doc)."""
    return config.knowledge.url or _KNOWLEDGE.url(config.store.url, home)


def session_url(config: AgentHostConfig, home: Path) -> str:
    """`store.url`, or the SQLite file under the home directory."""
    return config.store.url or default_store_url(home)


__all__ = ["artifacts_url", "knowledge_url", "session_url"]
