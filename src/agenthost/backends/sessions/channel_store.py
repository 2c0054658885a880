"""Channel stores (the inbox and outbox of agenthost.channels), beside the session stores.

`channel_store_for(store)` gives the channel store that lives in the same place as a session
store: SQLite tables in the same file and connection (`channel_store_sqlite.py`), Postgres and
MySQL/MariaDB tables on the store's pool (`channel_store_sql.py`, made by the stores'
migration 2), keys under the Redis store's prefix (`channel_store_redis.py`), or a memory
store for `memory://`. A session store of another kind (your own) has none: pass
`channel_store=` to the ChannelRuntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agenthost.core.errors import ConfigError
from agenthost.ports.channels import (
    ChannelStore,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    InboxEntry,
    OutboxItem,
    RunRecord,
    delivery_key,
)

__all__ = ["MemoryChannelStore", "channel_store_for"]


def channel_store_for(store: Any) -> ChannelStore:
    """The channel store kept with session store `store` (already open)."""
    from agenthost.backends.sessions.memory import MemorySessionStore
    from agenthost.backends.sessions.sqlite import SQLiteSessionStore

    if isinstance(store, SQLiteSessionStore):
        from agenthost.backends.sessions.channel_store_sqlite import SQLiteChannelStore

        return SQLiteChannelStore(store)
    if isinstance(store, MemorySessionStore):
        return MemoryChannelStore()
    kind = _server_kind(store)
    if kind == "postgres":
        from agenthost.backends.sessions.channel_store_sql import PostgresChannelStore

        return PostgresChannelStore(store)
    if kind == "mysql":
        from agenthost.backends.sessions.channel_store_sql import MySQLChannelStore

        return MySQLChannelStore(store)
    if kind == "redis":
        from agenthost.backends.sessions.channel_store_redis import RedisChannelStore

        return RedisChannelStore(store)
    raise ConfigError(
        f"Channels keep their inbox and outbox in the session store, and "
        f"{type(store).__name__} is not one of agenthost's stores (memory, sqlite, postgresql, "
        f"mysql, redis). Pass channel_store= to ChannelRuntime (the ChannelStore port, "
        f"agenthost.ports.channels), or use one of those stores."
    )


def _server_kind(store: Any) -> str | None:
    """Which server store `store` is, without importing the drivers' modules."""
    from agenthost.backends.sessions.mysql import MySQLSessionStore
    from agenthost.backends.sessions.postgres import PostgresSessionStore
    from agenthost.backends.sessions.redis import RedisSessionStore

    for kind, cls in (
        ("postgres", PostgresSessionStore),
        ("mysql", MySQLSessionStore),
        ("redis", RedisSessionStore),
    ):
        if isinstance(store, cls):
            return kind
    return None


class MemoryChannelStore:
    """The inbox and outbox in this process only (lost at exit): for tests and memory://."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()
        self._inbox: dict[tuple[str, str, str], InboxEntry] = {}
        self._seq = 0
        self._rows: dict[int, Delivery] = {}
        self._pending: dict[int, Delivery] = {}  # the pending rows, in id order
        self._queued: set[str] = set()
        self._next_id = 0
        self.runs: dict[tuple[str, str, str], RunRecord] = {}

    async def accept(self, message: InboundMessage) -> bool:
        if message.key in self._seen:
            return False
        self._seen.add(message.key)
        self._seq += 1
        self._inbox[message.key] = InboxEntry(seq=self._seq, message=message)
        return True

    async def pending(self) -> list[InboxEntry]:
        return sorted(self._inbox.values(), key=lambda e: e.seq)

    async def finish(
        self, key: tuple[str, str, str], items: Sequence[OutboxItem], run: RunRecord | None
    ) -> None:
        for item in items:
            dkey = delivery_key(item)
            if dkey in self._queued:
                continue
            self._queued.add(dkey)
            self._next_id += 1
            row = Delivery(id=self._next_id, key=dkey, item=item)
            self._rows[row.id] = self._pending[row.id] = row
        self._inbox.pop(key, None)
        if run is not None:
            self.runs[key] = run

    async def due(self, output: str, *, now: float, limit: int = 500) -> list[Delivery]:
        heads: dict[str, Delivery] = {}
        for row in self._pending.values():  # insertion order = id order
            if row.item.output == output:
                heads.setdefault(row.item.target, row)
        return [d for d in heads.values() if d.next_at <= now][:limit]

    async def update(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus,
        attempts: int,
        next_at: float = 0.0,
        error: str | None = None,
    ) -> None:
        row = self._rows[delivery_id]
        row.status, row.attempts, row.next_at, row.last_error = status, attempts, next_at, error
        if status != "pending":
            self._pending.pop(delivery_id, None)

    async def counts(self) -> dict[str, int]:
        statuses = [row.status for row in self._rows.values()]
        return {
            "inbox_pending": len(self._inbox),
            "outbox_pending": statuses.count("pending"),
            "delivered": statuses.count("delivered"),
            "failed": statuses.count("failed"),
        }

    async def deliveries(self) -> list[Delivery]:
        """Every outbox row, oldest first (for tests)."""
        return list(self._rows.values())
