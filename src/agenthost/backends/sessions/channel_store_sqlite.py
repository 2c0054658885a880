"""The channel inbox and outbox as tables in the SQLite session store's file.

They use the session store's own connection (on the event loop, as the store does; see
sqlite.py for why), so a `sqlite://:memory:` store has them too, and they are written in
short `BEGIN IMMEDIATE` ... `COMMIT` transactions that survive a `kill -9` like the events do.

    channel_inbox    (input, conversation, message_id) -> the message as JSON, its state
                     (pending | done), accept order, and when done the run's record
                     (run id, status, usage, cost) for pricing and reports
    channel_outbox   one row per reply part: its idempotency key (unique: a part is queued
                     once), output, target, status, attempts, next attempt time, last error
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.ports.channels import (
    Delivery,
    DeliveryStatus,
    InboundMessage,
    InboxEntry,
    OutboxItem,
    RunRecord,
    delivery_key,
)

_T = TypeVar("_T")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS channel_inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        input TEXT NOT NULL,
        conversation TEXT NOT NULL,
        message_id TEXT NOT NULL,
        message BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        accepted_at REAL NOT NULL,
        finished_at REAL,
        run BLOB,
        UNIQUE (input, conversation, message_id)
    )""",
    "CREATE INDEX IF NOT EXISTS channel_inbox_pending ON channel_inbox (state, seq)",
    """CREATE TABLE IF NOT EXISTS channel_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        output TEXT NOT NULL,
        target TEXT NOT NULL,
        item BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS channel_outbox_pending ON channel_outbox (output, status, id)",
)

_encode = msgspec.json.encode
_decode_message = msgspec.json.Decoder(InboundMessage).decode
_decode_item = msgspec.json.Decoder(OutboxItem).decode


class SQLiteChannelStore:
    """The ChannelStore port over an open SQLiteSessionStore (its file, its connection)."""

    def __init__(self, store: SQLiteSessionStore, *, clock: Callable[[], float] = time.time):
        self._store = store
        self._clock = clock
        self._ready = False

    def _conn(self) -> sqlite3.Connection:
        conn = self._store._connection()
        if not self._ready:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.rollback()
                raise
            self._ready = True
        return conn

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            return await self._store._retry(exc, fn, *args)

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        self._store._wrote()
        return result

    # ---- inbox ----------------------------------------------------------------------------

    async def accept(self, message: InboundMessage) -> bool:
        blob = _encode(message)
        return await self._call(self._accept, message, blob)

    def _accept(self, message: InboundMessage, blob: bytes) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO channel_inbox (input, conversation, message_id, message, "
                "accepted_at) VALUES (?, ?, ?, ?, ?)",
                (message.input, message.conversation, message.id, blob, self._clock()),
            )
            return cur.rowcount == 1

        return self._write(write)

    async def pending(self) -> builtins.list[InboxEntry]:
        return await self._call(self._pending)

    def _pending(self) -> builtins.list[InboxEntry]:
        rows = self._conn().execute(
            "SELECT seq, message FROM channel_inbox WHERE state = 'pending' ORDER BY seq"
        )
        return [InboxEntry(seq=seq, message=_decode_message(blob)) for seq, blob in rows]

    async def finish(
        self, key: tuple[str, str, str], items: Sequence[OutboxItem], run: RunRecord | None
    ) -> None:
        rows = [
            (delivery_key(i), i.output, i.target, _encode(i), self._clock(), self._clock())
            for i in items
        ]
        run_blob = None if run is None else _encode(run)
        await self._call(self._finish, key, rows, run_blob)

    def _finish(
        self, key: tuple[str, str, str], rows: builtins.list[tuple[Any, ...]], run: bytes | None
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO channel_outbox (key, output, target, item, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute(
                "UPDATE channel_inbox SET state = 'done', finished_at = ?, run = ? "
                "WHERE input = ? AND conversation = ? AND message_id = ?",
                (self._clock(), run, *key),
            )

        self._write(write)

    # ---- outbox ---------------------------------------------------------------------------

    async def due(self, output: str, *, now: float, limit: int = 500) -> builtins.list[Delivery]:
        return await self._call(self._due, output, now, limit)

    def _due(self, output: str, now: float, limit: int) -> builtins.list[Delivery]:
        rows = self._conn().execute(
            "SELECT o.id, o.key, o.item, o.attempts, o.next_at, o.last_error "
            "FROM channel_outbox o JOIN (SELECT min(id) AS id FROM channel_outbox "
            "WHERE output = ? AND status = 'pending' GROUP BY target) h ON o.id = h.id "
            "WHERE o.next_at <= ? ORDER BY o.id LIMIT ?",
            (output, now, limit),
        )
        return [
            Delivery(
                id=row_id,
                key=key,
                item=_decode_item(item),
                attempts=attempts,
                next_at=next_at,
                last_error=error,
            )
            for row_id, key, item, attempts, next_at, error in rows
        ]

    async def update(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        next_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        await self._call(self._update, delivery_id, status, attempts, next_at, error)

    def _update(
        self, delivery_id: int, status: str, attempts: int, next_at: float, error: str | None
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE channel_outbox SET status = ?, attempts = ?, next_at = ?, "
                "last_error = ?, updated_at = ? WHERE id = ?",
                (status, attempts, next_at, error, self._clock(), delivery_id),
            )

        self._write(write)

    async def counts(self) -> dict[str, int]:
        return await self._call(self._counts)

    def _counts(self) -> dict[str, int]:
        conn = self._conn()
        inbox = conn.execute(
            "SELECT count(*) FROM channel_inbox WHERE state = 'pending'"
        ).fetchone()[0]
        out = dict(conn.execute("SELECT status, count(*) FROM channel_outbox GROUP BY status"))
        return {
            "inbox_pending": inbox,
            "outbox_pending": out.get("pending", 0),
            "delivered": out.get("delivered", 0),
            "failed": out.get("failed", 0),
        }

    async def deliveries(self) -> builtins.list[Delivery]:
        """Every outbox row, oldest first (for tests and reports)."""
        return await self._call(self._all)

    def _all(self) -> builtins.list[Delivery]:
        rows = self._conn().execute(
            "SELECT id, key, item, status, attempts, next_at, last_error FROM channel_outbox "
            "ORDER BY id"
        )
        return [
            Delivery(
                id=i, key=k, item=_decode_item(b), status=s, attempts=a, next_at=n, last_error=e
            )
            for i, k, b, s, a, n, e in rows
        ]

    async def runs(self) -> builtins.list[RunRecord]:
        """The run records of finished messages, in accept order (for pricing reports)."""
        return await self._call(self._runs)

    def _runs(self) -> builtins.list[RunRecord]:
        rows = self._conn().execute(
            "SELECT run FROM channel_inbox WHERE run IS NOT NULL ORDER BY seq"
        )
        decode = msgspec.json.Decoder(RunRecord).decode
        return [decode(blob) for (blob,) in rows]
