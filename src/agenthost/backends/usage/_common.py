"""What the usage backends share: the columns, a query as SQL conditions, and the life of
the stores on a server database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Self

from agenthost.backends.common.grouped import Grouped
from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.common.migrations import Migrated
from agenthost.backends.common.sql_servers import server_options
from agenthost.core.errors import redact_url
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

COLUMNS: Final = (
    "run_id",
    "app",
    "agent",
    "user_id",
    "session_id",
    "started_at",
    "finished_at",
    "status",
    "input_tokens",
    "output_tokens",
    "requests",
    "cost",
)


def row_of(record: UsageRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in COLUMNS)


def record_of(row: Any) -> UsageRecord:
    return UsageRecord(**{name: row[i] for i, name in enumerate(COLUMNS)})


def where(query: UsageQuery, placeholder: str = "?") -> tuple[str, list[Any]]:
    """The WHERE clause (with its leading ' WHERE ', or '') and its parameters. `placeholder`
    is '?' (SQLite), '$' (asyncpg: numbered $1, $2, ...) or '%s' (asyncmy)."""
    conditions: list[str] = []
    params: list[Any] = []

    def mark() -> str:
        return f"${len(params)}" if placeholder == "$" else placeholder

    for column, op, value in (
        ("app", "=", query.app),
        ("user_id", "=", query.user_id),
        ("session_id", "=", query.session_id),
        ("started_at", ">=", query.since),
        ("started_at", "<", query.until),
    ):
        if value is not None:
            params.append(value)
            conditions.append(f"{column} {op} {mark()}")
    if query.app_prefix is not None:
        params.append(query.app_prefix)
        if placeholder == "?":  # a range, not LIKE (app names may hold % and _)
            low = mark()
            params.append(query.app_prefix + "\U0010ffff")
            conditions.append(f"app >= {low} AND app < {mark()}")
        elif placeholder == "$":  # Postgres: ranges depend on the collation
            conditions.append(f"starts_with(app, {mark()})")
        else:  # MySQL: the column is utf8mb4_bin, compared byte for byte
            params.append(query.app_prefix)
            conditions.append(f"LEFT(app, CHAR_LENGTH({mark()})) = {mark()}")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


class RecordGroup:
    """Concurrent `record` calls share one write (backends/common/grouped.py): while a write is
    in flight, the records that arrive wait and go together in the next one, and each caller
    returns once its record is stored. `write(records)` stores a batch whose run ids are
    unique (of records with one run id, the last wins, as sequential upserts would)."""

    def __init__(self, write: Callable[[list[UsageRecord]], Awaitable[None]]) -> None:
        async def unique(records: list[UsageRecord]) -> list[None]:
            await write(list({r.run_id: r for r in records}.values()))
            return [None] * len(records)

        self._group: Grouped[UsageRecord, None] = Grouped(unique)

    async def record(self, record: UsageRecord) -> None:
        await self._group.submit(record)

    async def drain(self) -> None:
        """Wait for the writes in flight (before the pool closes)."""
        await self._group.drain()


class ServerUsageStore(Migrated, OpenClose):
    """A usage store on Postgres or MySQL: its `<prefix>usage` table (no prefix by default),
    versioned by its `_schema`, checked when it opens. `record` goes through a `RecordGroup`:
    the backends write batches (`_write`)."""

    _role = "usage store"

    def __init__(self, url: str, **options: Any) -> None:
        self._configure(server_options(url, options, ""))
        self.table = f"{self.prefix}usage"
        self._group = RecordGroup(self._write)

    async def record(self, record: UsageRecord) -> None:
        await self._group.record(record)

    async def _write(self, records: list[UsageRecord]) -> None:
        raise NotImplementedError

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self._url)!r}, {self.table!r})"

    async def open(self) -> Self:
        if self._pool is None:
            self._pool = await self._open_pool()
        return self

    async def aclose(self) -> None:
        await self._group.drain()
        await self._close()

    async def drop_table(self) -> None:
        """Remove the table, its versions and every record (tests use it to clean up)."""
        await self._drop(f"`{self.table}`" if self._kind == "mysql" else self.table)
