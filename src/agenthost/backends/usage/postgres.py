"""The usage store of a `postgresql://` URL (extra `postgres`): a `usage` table, asyncpg pool.

The URL's query (`?table_prefix=x_`) names the table `x_usage`, as the session store's
tables are named (no prefix by default: `usage`). The table is made by `agenthost db upgrade`
(versioned steps, `MIGRATIONS`; `?migrate=true` applies them at start-up); a store opened on
a database without them refuses to start and says so.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from agenthost.backends.common.migrations import Schema, Step
from agenthost.backends.usage._common import (
    COLUMNS,
    ServerUsageStore,
    record_of,
    row_of,
    where,
)
from agenthost.core.errors import StoreError
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

if TYPE_CHECKING:
    import asyncpg

MIGRATIONS: Final = (
    Step(
        1,
        "the usage table",
        (
            """CREATE TABLE IF NOT EXISTS {p}usage (
                run_id TEXT PRIMARY KEY, app TEXT NOT NULL, agent TEXT NOT NULL,
                user_id TEXT NOT NULL, session_id TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL, input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL, requests BIGINT NOT NULL,
                cost DOUBLE PRECISION NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS {p}usage_user ON {p}usage (user_id, started_at)",
            "CREATE INDEX IF NOT EXISTS {p}usage_session ON {p}usage (session_id, started_at)",
            "CREATE INDEX IF NOT EXISTS {p}usage_started ON {p}usage (started_at)",
        ),
    ),
)
SCHEMA: Final = Schema("Postgres usage store", "usage", MIGRATIONS)
_TYPES: Final = {
    "started_at": "float8",
    "finished_at": "float8",
    "input_tokens": "int8",
    "output_tokens": "int8",
    "requests": "int8",
    "cost": "float8",
}


class PostgresUsageStore(ServerUsageStore):
    _kind = "postgres"
    _schema = SCHEMA

    def _p(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("The Postgres usage store is not open.")
        return self._pool

    async def _write(self, records: list[UsageRecord]) -> None:
        """One statement for the batch: the rows as arrays, unnested (one text, one plan)."""
        await self._p().execute(self._upsert, *zip(*map(row_of, records), strict=True))

    @functools.cached_property
    def _upsert(self) -> str:
        arrays = ", ".join(f"${i + 1}::{_TYPES.get(c, 'text')}[]" for i, c in enumerate(COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        return (
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}"
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
