"""The usage store of a `sqlite:///` URL: a `usage` table in the same file as the sessions.

It has its own connection (the session store's is not shared across backends), on the event
loop like the session store's: one INSERT per run and one indexed SUM per budget check, tens
of microseconds each. A lock held by another writer is waited for with `asyncio.sleep`
backoff (the busy handler blocks the loop for at most 2 ms per try), up to `busy_timeout`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Self, TypeVar

from agenthost.backends.common.lifecycle import OpenClose
from agenthost.backends.usage._common import COLUMNS, record_of, row_of, where
from agenthost.core.errors import BackendUnavailable, ConfigError, StoreError
from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery

_T = TypeVar("_T")

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS usage (
        run_id TEXT PRIMARY KEY, app TEXT NOT NULL, agent TEXT NOT NULL,
        user_id TEXT NOT NULL, session_id TEXT NOT NULL,
        started_at REAL NOT NULL, finished_at REAL NOT NULL, status TEXT NOT NULL,
        input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
        requests INTEGER NOT NULL, cost REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS usage_user ON usage (user_id, started_at)",
    "CREATE INDEX IF NOT EXISTS usage_session ON usage (session_id, started_at)",
    "CREATE INDEX IF NOT EXISTS usage_started ON usage (started_at)",
)
_INSERT: Final = (
    f"INSERT OR REPLACE INTO usage ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


def sqlite_path(url: str) -> str:
    rest = url.partition("://")[2]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or len(rest) < 2 or "?" in rest:
        raise ConfigError(
            f"Bad sqlite URL {url!r}: write sqlite:///relative.db or sqlite:////abs.db"
        )
    return rest[1:]


class SQLiteUsageStore(OpenClose):
    def __init__(self, path: str = "agenthost.db", *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteUsageStore:
        return cls(sqlite_path(url), **options)

    def __repr__(self) -> str:
        return f"SQLiteUsageStore({self.path!r})"

    async def open(self) -> Self:
        if self._conn is None:
            await self._retry(self._open)
        return self

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=0.002, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in SCHEMA:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"The SQLite usage store at {self.path!r} is not open.")
        return self._conn

    async def _retry(self, fn: Callable[[], _T]) -> _T:
        """Run `fn`; while another connection holds the lock, sleep and try again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout
        delay = 0.001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(f"SQLite usage store {self.path!r}: {exc}") from exc
                if loop.time() >= deadline:
                    raise BackendUnavailable(
                        f"SQLite database {self.path!r} stayed locked for {self._busy_timeout}s."
                    ) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite usage store {self.path!r}: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def record(self, record: UsageRecord) -> None:
        conn = self._connection()
        row = row_of(record)
        await self._retry(lambda: conn.execute(_INSERT, row))

    async def total_cost(self, query: UsageQuery) -> float:
        conn = self._connection()
        clause, params = where(query)
        sql = f"SELECT coalesce(sum(cost), 0.0) FROM usage{clause}"
        row = await self._retry(lambda: conn.execute(sql, params).fetchone())
        return float(row[0])

    async def records(self, query: UsageQuery, *, limit: int | None = None) -> list[UsageRecord]:
        conn = self._connection()
        clause, params = where(query)
        sql = f"SELECT {', '.join(COLUMNS)} FROM usage{clause} ORDER BY started_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = await self._retry(lambda: conn.execute(sql, params).fetchall())
        return [record_of(row) for row in reversed(rows)]
