"""The channel inbox and outbox in the Postgres and MySQL/MariaDB session stores' databases.

Tables `{prefix}channel_inbox` and `{prefix}channel_outbox` (migration 2 of both stores,
`_channel_sql.py`; made by `agenthost db upgrade` or `migrate=true`), on the store's own pool.
Same rows and meanings as SQLite (channel_store_sqlite.py). `accept` is one conditional insert
(a known key inserts nothing); `finish` queues the replies and marks the message done in one
transaction; a reply part is queued once (its idempotency key is unique).
"""

from __future__ import annotations

import builtins
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from agenthost.backends.sessions import _channel_sql as sql
from agenthost.ports.channels import (
    Delivery,
    DeliveryStatus,
    InboundMessage,
    InboxEntry,
    OutboxItem,
    RunRecord,
    delivery_key,
)

_encode = msgspec.json.encode
_decode_message = msgspec.json.Decoder(InboundMessage).decode
_decode_item = msgspec.json.Decoder(OutboxItem).decode
_decode_run = msgspec.json.Decoder(RunRecord).decode


def _due(rows: Sequence[Sequence[Any]]) -> list[Delivery]:
    return [
        Delivery(
            id=int(row_id),
            key=key,
            item=_decode_item(item),
            attempts=int(attempts),
            next_at=float(next_at),
            last_error=error,
        )
        for row_id, key, item, attempts, next_at, error in rows
    ]


def _all(rows: Sequence[Sequence[Any]]) -> list[Delivery]:
    return [
        Delivery(
            id=int(i),
            key=k,
            item=_decode_item(b),
            status=s,
            attempts=int(a),
            next_at=float(n),
            last_error=e,
        )
        for i, k, b, s, a, n, e in rows
    ]


def _finite(seconds: float) -> float:
    """MySQL refuses inf (`due(now=inf)`: everything pending); the largest double will do."""
    return min(max(seconds, -sys.float_info.max), sys.float_info.max)


def _counts(inbox: int, outbox: Sequence[Sequence[Any]]) -> dict[str, int]:
    out = {status: int(n) for status, n in outbox}
    return {
        "inbox_pending": int(inbox),
        "outbox_pending": out.get("pending", 0),
        "delivered": out.get("delivered", 0),
        "failed": out.get("failed", 0),
    }


class PostgresChannelStore:
    """The ChannelStore port over an open PostgresSessionStore (its pool, its prefix)."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._conn = store._conn  # pooled connection, driver errors mapped to StoreError
        self._sql = sql.prefixed(sql.PG, store.prefix)
        self._clock = clock

    async def accept(self, message: InboundMessage) -> bool:
        async with self._conn() as conn:
            seq = await conn.fetchval(
                self._sql["ACCEPT"], *message.key, _encode(message), self._clock()
            )
        return seq is not None

    async def pending(self) -> builtins.list[InboxEntry]:
        async with self._conn() as conn:
            rows = await conn.fetch(self._sql["PENDING"])
        return [InboxEntry(seq=seq, message=_decode_message(blob)) for seq, blob in rows]

    async def finish(
        self, key: tuple[str, str, str], items: Sequence[OutboxItem], run: RunRecord | None
    ) -> None:
        now = self._clock()
        rows = [(delivery_key(i), i.output, i.target, _encode(i), now, now) for i in items]
        async with self._conn() as conn, conn.transaction():
            if rows:
                await conn.executemany(self._sql["QUEUE"], rows)
            await conn.execute(self._sql["DONE"], now, None if run is None else _encode(run), *key)

    async def due(self, output: str, *, now: float, limit: int = 500) -> builtins.list[Delivery]:
        async with self._conn() as conn:
            return _due(await conn.fetch(self._sql["DUE"], output, now, limit))

    async def update(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        next_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        async with self._conn() as conn:
            await conn.execute(
                self._sql["UPDATE"], status, attempts, next_at, error, self._clock(), delivery_id
            )

    async def counts(self) -> dict[str, int]:
        async with self._conn() as conn:
            inbox = await conn.fetchval(self._sql["COUNT_INBOX"])
            outbox = await conn.fetch(self._sql["COUNT_OUTBOX"])
        return _counts(inbox, outbox)

    async def deliveries(self) -> builtins.list[Delivery]:
        """Every outbox row, oldest first (for tests and reports)."""
        async with self._conn() as conn:
            return _all(await conn.fetch(self._sql["ALL"]))

    async def runs(self) -> builtins.list[RunRecord]:
        """The run records of finished messages, in accept order (for pricing reports)."""
        async with self._conn() as conn:
            return [_decode_run(blob) for (blob,) in await conn.fetch(self._sql["RUNS"])]


class MySQLChannelStore:
    """The ChannelStore port over an open MySQLSessionStore (its pool, its prefix)."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._cursor = store._cursor  # autocommit cursor, rolled back on error, errors mapped
        self._sql = sql.prefixed(sql.MYSQL, store.prefix)
        self._clock = clock

    async def _rows(self, name: str, args: Sequence[Any] = ()) -> builtins.list[Any]:
        async with self._cursor() as cur:
            await cur.execute(self._sql[name], tuple(args))
            return list(await cur.fetchall())

    async def accept(self, message: InboundMessage) -> bool:
        async with self._cursor() as cur:
            await cur.execute(self._sql["ACCEPT"], (*message.key, _encode(message), self._clock()))
            return bool(cur.rowcount == 1)

    async def pending(self) -> builtins.list[InboxEntry]:
        rows = await self._rows("PENDING")
        return [InboxEntry(seq=int(seq), message=_decode_message(blob)) for seq, blob in rows]

    async def finish(
        self, key: tuple[str, str, str], items: Sequence[OutboxItem], run: RunRecord | None
    ) -> None:
        now = self._clock()
        rows = [(delivery_key(i), i.output, i.target, _encode(i), now, now) for i in items]
        async with self._cursor() as cur:
            await cur.execute("START TRANSACTION")
            if rows:
                await cur.executemany(self._sql["QUEUE"], rows)
            await cur.execute(self._sql["DONE"], (now, None if run is None else _encode(run), *key))
            await cur.execute("COMMIT")

    async def due(self, output: str, *, now: float, limit: int = 500) -> builtins.list[Delivery]:
        return _due(await self._rows("DUE", (output, _finite(now), limit)))

    async def update(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        next_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        async with self._cursor() as cur:
            await cur.execute(
                self._sql["UPDATE"],
                (status, attempts, _finite(next_at), error, self._clock(), delivery_id),
            )

    async def counts(self) -> dict[str, int]:
        inbox = await self._rows("COUNT_INBOX")
        return _counts(inbox[0][0], await self._rows("COUNT_OUTBOX"))

    async def deliveries(self) -> builtins.list[Delivery]:
        """Every outbox row, oldest first (for tests and reports)."""
        return _all(await self._rows("ALL"))

    async def runs(self) -> builtins.list[RunRecord]:
        """The run records of finished messages, in accept order (for pricing reports)."""
        return [_decode_run(blob) for (blob,) in await self._rows("RUNS")]
