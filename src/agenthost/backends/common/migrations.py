"""Versioned migrations of the artifact, usage and knowledge stores on Postgres and
MySQL/MariaDB, as the session store has its own (backends/sessions/_sql_common.py).

Each store has an ordered tuple of `Step(version, description, statements)` and records the
steps applied in `<prefix><component>_migrations (version, applied_at)`, e.g.
`agenthost_artifacts_migrations`. `agenthost db upgrade` (or `?migrate=true` in the store's
URL) applies the missing steps under a lock (`pg_advisory_xact_lock`, all steps in one
transaction on Postgres; `GET_LOCK` on MySQL, whose DDL commits at once, so every statement
is idempotent). A store opened on a database at another version refuses to start and says
what to run. Step 1 of each store is `CREATE ... IF NOT EXISTS`: it adopts the tables an
agenthost that made them on open left behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from agenthost.backends.common.sql_servers import (
    ServerURL,
    close_mysql_pool,
    mysql_connect_args,
    mysql_pool,
    postgres_pool,
)
from agenthost.core.errors import ConfigError, StoreError, redact_url

log = logging.getLogger("agenthost.migrations")

Kind = Literal["postgres", "mysql"]
_LOCK_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class Step:
    """One schema step. Statements are templates: `{p}` is the table prefix, and any other
    `{name}` a field the store passes (the knowledge store's text search language)."""

    version: int
    description: str
    statements: tuple[str, ...]

    def sql(self, prefix: str, fields: dict[str, str]) -> list[str]:
        out = []
        for statement in self.statements:
            statement = statement.replace("{p}", prefix)
            for name, value in fields.items():
                statement = statement.replace("{" + name + "}", value)
            out.append(statement)
        return out


@dataclass(frozen=True, slots=True)
class Schema:
    """The versioned tables of one store on one kind of server."""

    what: str  # "Postgres artifact store": how messages name it
    component: str  # the version table is `<prefix><component>_migrations`
    steps: tuple[Step, ...]
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def latest(self) -> int:
        return self.steps[-1].version

    def table(self, prefix: str) -> str:
        return f"{prefix}{self.component}_migrations"


def behind_error(what: str, url: str, current: int, latest: int) -> ConfigError:
    """The start-up refusal when the schema is not the one this agenthost writes."""
    where = f"{what} at {redact_url(url)!r}"
    if current > latest:
        return ConfigError(
            f"The {where} has schema version {current}, newer than this agenthost's "
            f"({latest}). Upgrade agenthost on every replica, or point the store elsewhere."
        )
    state = "has no agenthost schema yet" if current == 0 else f"is at schema version {current}"
    return ConfigError(
        f"The {where} {state}; this agenthost needs version {latest}. Run `agenthost db "
        f"upgrade` (with the same --config), or open the store with migrate=true (URL query "
        f"?migrate=true) to upgrade it at start-up."
    )


# ---- Postgres (asyncpg pool) --------------------------------------------------------------


async def _pg_version(pool: Any, table: str) -> int:
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT to_regclass($1)", table) is None:
            return 0
        return int(await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}"))


async def _pg_upgrade(pool: Any, prefix: str, schema: Schema, fields: dict[str, str]) -> list[int]:
    table = schema.table(prefix)
    applied: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", table)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(version integer PRIMARY KEY, applied_at double precision NOT NULL)"
        )
        done = {r[0] for r in await conn.fetch(f"SELECT version FROM {table}")}
        for step in schema.steps:
            if step.version in done:
                continue
            for statement in step.sql(prefix, fields):
                await conn.execute(statement)
            await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", step.version, time.time())
            applied.append(step.version)
    return applied


# ---- MySQL/MariaDB (asyncmy pool, autocommit) ---------------------------------------------


async def mysql_schema_version(pool: Any, table: str) -> int:
    """The highest version recorded in the migrations `table` (0 when it does not exist)."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            (table,),
        )
        if (await cur.fetchone())[0] == 0:
            return 0
        await cur.execute(f"SELECT coalesce(max(version), 0) FROM {table}")
        return int((await cur.fetchone())[0])


async def _mysql_upgrade(
    pool: Any, prefix: str, schema: Schema, fields: dict[str, str]
) -> list[int]:
    table = schema.table(prefix)
    lock = f"agenthost.migrate.{table}"
    applied: list[int] = []
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT GET_LOCK(%s, %s)", (lock, _LOCK_SECONDS))
        if (await cur.fetchone())[0] != 1:
            raise StoreError(
                f"{schema.what}: another process has been migrating {table} for "
                f"{_LOCK_SECONDS}s; try again when it is done."
            )
        try:
            await cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(version INT PRIMARY KEY, applied_at DOUBLE NOT NULL)"
            )
            await cur.execute(f"SELECT version FROM {table}")
            done = {r[0] for r in await cur.fetchall()}
            for step in schema.steps:
                if step.version in done:
                    continue
                for statement in step.sql(prefix, fields):
                    await cur.execute(statement)
                await cur.execute(
                    f"INSERT INTO {table} VALUES (%s, %s)", (step.version, time.time())
                )
                applied.append(step.version)
        finally:
            await cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
    return applied


_VERSION = {"postgres": _pg_version, "mysql": mysql_schema_version}
_UPGRADE = {"postgres": _pg_upgrade, "mysql": _mysql_upgrade}


class Migrated:
    """`upgrade()`, `schema_version()`, the start-up check and the pool of a server store.
    The store sets `_kind` and `_schema` and calls `_configure` with its checked options; its
    `_pool` is None while it is closed."""

    _kind: Kind
    _schema: Schema
    _role: str  # "artifact store": how connection errors name it
    prefix: str
    _url: str  # without our query options (a postgresql:// DSN on Postgres)
    _migrate: bool
    _pool_size: int
    _timeout: float
    _pool: Any

    def _configure(self, checked: ServerURL) -> None:
        self.prefix, self._migrate = checked.prefix, checked.migrate
        self._pool_size, self._timeout = checked.pool_size, checked.timeout
        url = checked.url
        if self._kind == "mysql":
            mysql_connect_args(url)  # a URL without a database fails here, not on open
        self._url = "postgresql://" + url.partition("://")[2] if self._kind == "postgres" else url
        self._pool = None

    async def _new_pool(self) -> Any:
        if self._kind == "postgres":
            return await postgres_pool(self._url, self._pool_size, self._timeout, self._role)
        return await mysql_pool(self._url, self._pool_size, self._timeout, self._role)

    async def _end_pool(self, pool: Any) -> None:
        if self._kind == "postgres":
            await pool.close()
        else:
            await close_mysql_pool(pool)

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._end_pool(pool)

    @property
    def schema_latest(self) -> int:
        """The version this agenthost writes."""
        return self._schema.latest

    async def _apply(self, pool: Any) -> list[int]:
        applied: list[int] = await _UPGRADE[self._kind](
            pool, self.prefix, self._schema, self._schema.fields
        )
        for version in applied:
            log.info("%s: applied migration %d", self._schema.what, version)
        return applied

    async def _version(self, pool: Any) -> int:
        version: int = await _VERSION[self._kind](pool, self._schema.table(self.prefix))
        return version

    async def _check_schema(self, pool: Any) -> None:
        """On open: apply the pending steps when `migrate` is set, then refuse unless the
        database is at this agenthost's version."""
        if self._migrate:
            await self._apply(pool)
        current = await self._version(pool)
        if current != self._schema.latest:
            raise behind_error(self._schema.what, self._url, current, self._schema.latest)

    async def _open_pool(self) -> Any:
        """A new pool on a database at this agenthost's version (see `_check_schema`)."""
        pool = await self._new_pool()
        try:
            await self._check_schema(pool)
        except BaseException:
            await self._end_pool(pool)
            raise
        return pool

    async def _drop(self, *tables: str) -> None:
        """Drop `tables` and the version table (tests clean up with it; destroys data)."""
        names = ", ".join((*tables, self._schema.table(self.prefix)))

        async def drop(pool: Any) -> None:
            if self._kind == "postgres":
                await pool.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
                return
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(f"DROP TABLE IF EXISTS {names}")

        await self._with_pool(drop)

    async def _with_pool(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        if self._pool is not None:
            return await fn(self._pool)
        pool = await self._new_pool()
        try:
            return await fn(pool)
        finally:
            await self._end_pool(pool)

    async def upgrade(self) -> list[int]:
        """Apply the pending migrations (one process at a time); the versions applied.
        Works whether or not the store is open."""
        applied: list[int] = await self._with_pool(self._apply)
        return applied

    async def schema_version(self) -> int:
        """The version the database is at (0: none of this store's tables)."""
        version: int = await self._with_pool(self._version)
        return version


__all__ = ["Migrated", "Schema", "Step", "behind_error"]
