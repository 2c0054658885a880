"""The usage store of a `postgresql://` URL (extra `postgres`): a `usage` table, asyncpg pool.

The URL's query (`?table_prefix=x_`) names the table `x_usage`, as the session store's
tables are named; the table is created if missing when the store opens.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.common.sql_servers import no_reset
from agenthost.backends.usage._common import COLUMNS, record_of, row_of, where
from agenthost.core.errors import BackendUnavailable, ConfigError, StoreError, redact_url
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

if TYPE_CHECKING:
    import asyncpg

_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,40}")


class PostgresUsageStore(OpenClose):
    def __init__(self, dsn: str, *, table_prefix: str = "") -> None:
        if table_prefix and not _PREFIX.fullmatch(table_prefix):
            raise ConfigError(f"table_prefix {table_prefix!r}: use lowercase letters, digits, _")
        self._dsn = dsn
        self.table = f"{table_prefix}usage"
        self._pool: asyncpg.Pool | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresUsageStore:
        base, _, query = url.partition("?")
        params = dict(parse_qsl(query))
        dsn = "postgresql://" + base.partition("://")[2]
        return cls(dsn, table_prefix=options.get("table_prefix", params.get("table_prefix", "")))

    def __repr__(self) -> str:
        return f"PostgresUsageStore({redact_url(self._dsn)!r})"

    async def open(self) -> Self:
        import asyncpg

        if self._pool is not None:
            return self
        try:
            pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4, reset=no_reset)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise BackendUnavailable(
                f"Cannot reach Postgres at {redact_url(self._dsn)}: {exc}"
            ) from exc
        t = self.table
        try:
            await pool.execute(
                f"""CREATE TABLE IF NOT EXISTS {t} (
                    run_id TEXT PRIMARY KEY, app TEXT NOT NULL, agent TEXT NOT NULL,
                    user_id TEXT NOT NULL, session_id TEXT NOT NULL,
                    started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION NOT NULL,
                    status TEXT NOT NULL, input_tokens BIGINT NOT NULL,
                    output_tokens BIGINT NOT NULL, requests BIGINT NOT NULL,
                    cost DOUBLE PRECISION NOT NULL);
                CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id, started_at);
                CREATE INDEX IF NOT EXISTS {t}_session ON {t} (session_id, started_at);
                CREATE INDEX IF NOT EXISTS {t}_started ON {t} (started_at);"""
            )
        except asyncpg.UniqueViolationError:
            pass  # another process created it at the same moment
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        return self

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _p(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("The Postgres usage store is not open.")
        return self._pool

    async def drop_table(self) -> None:
        """Remove the table and every record in it (tests use it to clean up)."""
        await self._p().execute(f"DROP TABLE IF EXISTS {self.table}")

    async def record(self, record: UsageRecord) -> None:
        marks = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        await self._p().execute(
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({marks}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
            *row_of(record),
        )

    async def total_cost(self, query: UsageQuery) -> float:
        clause, params = where(query, "$")
        value = await self._p().fetchval(
            f"SELECT coalesce(sum(cost), 0.0) FROM {self.table}{clause}", *params
        )
        return float(value)

    async def records(self, query: UsageQuery, *, limit: int | None = None) -> list[UsageRecord]:
        clause, params = where(query, "$")
        sql = f"SELECT {', '.join(COLUMNS)} FROM {self.table}{clause} ORDER BY started_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = await self._p().fetch(sql, *params)
        return [record_of(row) for row in reversed(rows)]
