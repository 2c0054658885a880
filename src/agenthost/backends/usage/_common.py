"""What the usage backends share: the columns, a query as SQL conditions, and the life of
the stores on a server database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final, Self

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
    """Concurrent `record` calls share one write (one statement, one round trip, one commit):
    while a write is in flight, the records that arrive wait and go together in the next one.
    Each caller returns once its record is stored, or raises what its write raised, as it
    would alone; a caller cancelled while waiting leaves its record to be written. Under a
    server's load (runs ending together) this cuts the usage statements per run; a lone
    record is written at once, as before. `write(records)` stores a batch whose run ids are
    unique (of records with one run id, the last wins, as sequential upserts would)."""

    def __init__(self, write: Callable[[list[UsageRecord]], Awaitable[None]]) -> None:
        self._write = write
        self._busy = False
        self._next: list[UsageRecord] = []
        self._next_done: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def record(self, record: UsageRecord) -> None:
        if not self._busy:
            self._busy = True
            try:
                await self._write([record])
            finally:
                self._hand_on()
            return
        self._next.append(record)
        if self._next_done is None:
            self._next_done = asyncio.get_running_loop().create_future()
            self._next_done.add_done_callback(_retrieve)
        await asyncio.shield(self._next_done)

    def _hand_on(self) -> None:
        """The write in flight is done: start the next batch's, if any."""
        if not self._next:
            self._busy = False
            return
        batch, done = self._next, self._next_done
        self._next, self._next_done = [], None
        assert done is not None
        task = asyncio.ensure_future(self._flush(batch, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[UsageRecord], done: asyncio.Future[None]) -> None:
        try:
            await self._write(list({r.run_id: r for r in batch}.values()))
        except asyncio.CancelledError:
            done.cancel()
            raise
        except BaseException as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)
        finally:
            self._hand_on()

    async def drain(self) -> None:
        """Wait for the writes in flight (before the pool closes)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # its callers raised it; none left is no warning


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
