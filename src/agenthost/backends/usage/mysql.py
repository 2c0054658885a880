"""The usage store of a `mysql://` (or `mariadb://`) URL (extra `mysql`): a `usage` table,
an asyncmy pool.

The URL's query (`?table_prefix=x_`) names the table `x_usage`, as the Postgres usage store
does (no prefix by default: the table is `usage`, quoted, as USAGE is a MySQL keyword). The
table is made by `agenthost db upgrade` (versioned steps, `MIGRATIONS`; `?migrate=true`
applies them at start-up); a store opened without them refuses to start. Text columns are
utf8mb4_bin, so an app prefix matches byte for byte. Recording a run again replaces its row
(`REPLACE INTO`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from agenthost.backends.common.migrations import Schema, Step
from agenthost.backends.usage._common import (
    COLUMNS,
    ServerUsageStore,
    record_of,
    row_of,
    where,
)
from agenthost.core.errors import StoreError, redact_url
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

_TEXT: Final = "VARCHAR(255) NOT NULL"


MIGRATIONS: Final = (
    Step(
        1,
        "the usage table",
        (
            f"""CREATE TABLE IF NOT EXISTS `{{p}}usage` (
                run_id {_TEXT} PRIMARY KEY, app {_TEXT}, agent {_TEXT},
                user_id {_TEXT}, session_id {_TEXT},
                started_at DOUBLE NOT NULL, finished_at DOUBLE NOT NULL,
                status {_TEXT}, input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL, requests BIGINT NOT NULL,
                cost DOUBLE NOT NULL,
                KEY by_user (user_id, started_at),
                KEY by_session (session_id, started_at),
                KEY by_started (started_at))
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
        ),
    ),
)
SCHEMA: Final = Schema("MySQL usage store", "usage", MIGRATIONS)


class MySQLUsageStore(ServerUsageStore):
    _kind = "mysql"
    _schema = SCHEMA

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Any]:
        from asyncmy import errors

        if self._pool is None:
            raise StoreError("The MySQL usage store is not open.")
        try:
            async with self._pool.acquire() as conn, conn.cursor() as cur:
                yield cur
        except errors.Error as exc:
            raise StoreError(f"MySQL usage store {redact_url(self._url)!r}: {exc}") from exc

    async def _write(self, records: list[UsageRecord]) -> None:
        """One multi-row REPLACE for the batch."""
        one = "(" + ", ".join("%s" for _ in COLUMNS) + ")"
        async with self._cursor() as cur:
            await cur.execute(
                f"REPLACE INTO `{self.table}` ({', '.join(COLUMNS)}) VALUES "
                + ", ".join([one] * len(records)),
                [v for record in records for v in row_of(record)],
            )

    async def total_cost(self, query: UsageQuery) -> float:
        clause, params = where(query, "%s")
        async with self._cursor() as cur:
            await cur.execute(
                f"SELECT coalesce(sum(cost), 0.0) FROM `{self.table}`{clause}", params
            )
            row = await cur.fetchone()
        return float(row[0])

    async def records(self, query: UsageQuery, *, limit: int | None = None) -> list[UsageRecord]:
        clause, params = where(query, "%s")
        sql = f"SELECT {', '.join(COLUMNS)} FROM `{self.table}`{clause} ORDER BY started_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        async with self._cursor() as cur:
            await cur.execute(sql, params)
            rows = await cur.fetchall()
        return [record_of(row) for row in reversed(rows)]
