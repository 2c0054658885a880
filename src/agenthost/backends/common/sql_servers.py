"""What the artifact, usage and knowledge stores on Postgres and MySQL/MariaDB share: their
URL options (`?table_prefix=x_&pool_size=4&migrate=true`), the MySQL URL as asyncmy's connect
arguments, and opening a pool with an error that names the server. Drivers are imported only
when a pool is opened.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from agenthost.core.errors import BackendUnavailable, ConfigError, InvalidArgument, redact_url

_PREFIX: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
OPTIONS: Final = ("table_prefix", "pool_size", "connect_timeout", "migrate")
_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")


class ServerURL(NamedTuple):
    url: str  # without our query parameters
    prefix: str
    pool_size: int
    timeout: float
    migrate: bool  # apply pending migrations when the store opens


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise InvalidArgument("migrate", f"must be true or false, got {value!r}")


def server_options(
    url: str, options: dict[str, Any], default_prefix: str = "agenthost_"
) -> ServerURL:
    """`url` without our query parameters, and the options; an explicit keyword in `options`
    wins over the URL's query."""
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    found: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in OPTIONS:
            found[name] = value
        else:
            kept.append((name, value))
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise InvalidArgument(
            "options", f"unknown {sorted(unknown)}; a server store takes {', '.join(OPTIONS)}"
        )
    found.update(options)
    prefix = found.get("table_prefix", default_prefix)
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidArgument(
            "table_prefix",
            f"must be letters, digits and '_' (not starting with a digit, at most 40), "
            f"got {prefix!r}",
        )
    size = found.get("pool_size", 4)
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidArgument("pool_size", f"must be an integer >= 1, got {size!r}")
    try:
        timeout = float(found.get("connect_timeout", 10.0))
    except (TypeError, ValueError):
        raise InvalidArgument(
            "connect_timeout", f"must be seconds, got {found['connect_timeout']!r}"
        ) from None
    base = urlunsplit(parts._replace(query=urlencode(kept)))
    return ServerURL(base, prefix, size, timeout, _as_bool(found.get("migrate", False)))


def postgres_dsn(url: str) -> str:
    """asyncpg takes postgresql:// (and postgres://) URLs as they are."""
    return "postgresql://" + url.partition("://")[2]


async def no_reset(conn: Any) -> None:
    """An asyncpg pool's `reset` for our stores: nothing beyond what asyncpg always does on
    release (roll back an open transaction, drop listeners). Our statements take no
    session-level advisory locks (only `pg_advisory_xact_lock`), declare no cursors outside a
    transaction, LISTEN to nothing and SET nothing, so asyncpg's default reset query
    (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is one round trip per
    checkout for nothing: 7 of the 18 round trips of a run on the Postgres store."""


async def postgres_pool(dsn: str, pool_size: int, timeout: float, what: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, timeout=timeout, reset=no_reset
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise BackendUnavailable(
            f"The {what} cannot reach Postgres at {redact_url(dsn)!r}: {exc}. Is the server "
            f"running and the URL (user, password, database) right?"
        ) from exc


def mysql_connect_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise ConfigError(
            f"MySQL URL {redact_url(url)!r} names no database: write "
            f"mysql://user:password@host:3306/database."
        )
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "db": database,
    }


async def mysql_pool(url: str, pool_size: int, timeout: float, what: str) -> Any:
    import asyncmy

    try:
        return await asyncmy.create_pool(
            minsize=1,
            maxsize=pool_size,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=timeout,
            **mysql_connect_args(url),
        )
    except ConfigError:
        raise
    except Exception as exc:
        raise BackendUnavailable(
            f"The {what} cannot connect to MySQL at {redact_url(url)!r}: {exc}. Is the server "
            f"running and the URL (user, password, database) right?"
        ) from exc


async def close_mysql_pool(pool: Any) -> None:
    pool.close()
    await pool.wait_closed()
