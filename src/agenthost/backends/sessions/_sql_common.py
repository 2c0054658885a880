"""What the server stores (Postgres, MySQL/MariaDB, Redis) share: URL options, name prefixes,
versioned migrations, and renumbering a batch once the server has assigned its seq.

Migrations are the stores' own: an ordered tuple of `Migration(version, description,
statements)` per backend and a `<prefix>schema_migrations (version, applied_at)` table (a key
on Redis). `agenthost db upgrade` applies the missing ones under a lock; a store opened on an
older (or newer) schema refuses to start with a message saying what to run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agenthost.backends.common.migrations import behind_error
from agenthost.backends.sessions._common import Batch, encode_events
from agenthost.core.errors import ConfigError, InvalidArgument
from agenthost.core.events import Event
from agenthost.core.session import Session, SessionKey

_SQL_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_TRUE: Final = {"1", "true", "yes", "on"}
_FALSE: Final = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. Statements are templates: `{p}` is the table prefix."""

    version: int
    description: str
    statements: tuple[str, ...]

    def sql(self, prefix: str) -> list[str]:
        return [s.replace("{p}", prefix) for s in self.statements]


def latest_version(migrations: Sequence[Migration]) -> int:
    return migrations[-1].version if migrations else 0


def split_url(url: str, ours: Sequence[str]) -> tuple[str, dict[str, str]]:
    """`url` without the query parameters named in `ours`, and those parameters."""
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    found: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ours:
            found[name] = value
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), found


def url_options(url: str, ours: Sequence[str], options: dict[str, Any]) -> str:
    """Move our query parameters from `url` into `options` (an explicit option wins)."""
    base, found = split_url(url, ours)
    for name, value in found.items():
        options.setdefault(name, value)
    return base


def as_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise InvalidArgument(field, f"must be true or false, got {value!r}")


def check_table_prefix(value: Any) -> str:
    """A table prefix is spliced into SQL, so it is an identifier: letters, digits, '_'."""
    if not isinstance(value, str) or not _SQL_NAME.fullmatch(value):
        raise InvalidArgument(
            "table_prefix",
            f"must be letters, digits and '_' (not starting with a digit, at most 40), "
            f"got {value!r}",
        )
    return value


def check_pool_size(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument("pool_size", f"must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """The checked connection options a SQL server store takes (URL query or keywords)."""

    prefix: str
    migrate: bool
    pool_size: int
    timeout: float
    sql: dict[str, str]  # the store's statements with `{p}` replaced by the prefix

    @classmethod
    def check(
        cls,
        statements: ModuleType,
        *,
        table_prefix: Any,
        migrate: Any,
        pool_size: Any,
        connect_timeout: Any,
    ) -> ServerOptions:
        prefix = check_table_prefix(table_prefix)
        try:
            timeout = float(connect_timeout)
        except ValueError:
            raise InvalidArgument(
                "connect_timeout", f"must be seconds, got {connect_timeout!r}"
            ) from None
        sql = {
            name: value.replace("{p}", prefix)
            for name, value in vars(statements).items()
            if name.isupper() and isinstance(value, str)
        }
        return cls(prefix, as_bool("migrate", migrate), check_pool_size(pool_size), timeout, sql)


def schema_error(what: str, url: str, current: int, latest: int) -> ConfigError:
    """The start-up refusal when the schema is not the one this agenthost writes (the same
    words as the artifact, usage and knowledge stores': backends/common/migrations.py)."""
    return behind_error(what, url, current, latest)


def renumber(events: Sequence[Event], batch: Batch, base: int) -> None:
    """The server numbered the batch after `base`: fix the provisional seq `prepare_batch` set
    on the stored events and on the caller's (another writer may have appended meanwhile)."""
    shift = base - (batch.first_seq - 1)
    if shift == 0:
        return
    seen: set[int] = set()
    for event in (*batch.events, *events):
        if id(event) not in seen:
            seen.add(id(event))
            event.seq += shift
    batch.first_seq += shift
    batch.last_seq += shift


def split_scope(delta: dict[str, Any]) -> tuple[list[str], list[Any], list[str]]:
    """A scope's net delta as (keys set, their values, keys deleted)."""
    keys = [k for k, v in delta.items() if v is not None]
    return keys, [delta[k] for k in keys], [k for k, v in delta.items() if v is None]


async def create_over_limit(
    store: Any, key: SessionKey, events: Sequence[Event], max_events: int | None
) -> Session | None:
    """`create_with_events` with more events than `max_events` keeps (trimmed on the way in:
    `append`'s business): `create`, then `append`. None when they fit. The events are encoded
    first: an unstorable one creates nothing."""
    if max_events is None or len(events) <= max_events:
        return None
    encode_events(events)
    session: Session = await store.create(key)
    await store.append(session, events)
    return session
