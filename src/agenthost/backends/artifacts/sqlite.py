"""`SQLiteArtifactStore`: artifacts as blobs in a SQLite table (`agenthost_artifacts`).

Point it at the session store's file (`sqlite:///agenthost.db`) to keep sessions and their
artifacts in one database; it opens its own connection (WAL mode lets both write). A blob can
be large, so every statement runs in a worker thread, one at a time (a lock), off the event
loop. A save takes its version as `MAX(version) + 1` inside the INSERT, in one transaction:
two writers never share a version.
"""

from __future__ import annotations

import asyncio
import builtins
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from agenthost.core.errors import StoreError
from agenthost.ports.artifacts import (
    Artifact,
    ArtifactInfo,
    artifact_key,
    new_info,
)

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_decode_meta = msgspec.json.Decoder(dict[str, Any]).decode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agenthost_artifacts (
    app TEXT NOT NULL,
    user_id TEXT NOT NULL,
    owner TEXT NOT NULL,            -- the session id, '' for the user's artifacts
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    metadata TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (app, user_id, owner, name, version)
)
"""
_COLUMNS = "name, version, mime_type, size, created_at, metadata"


def _info(row: tuple[Any, ...]) -> ArtifactInfo:
    return ArtifactInfo(
        name=row[0],
        version=row[1],
        mime_type=row[2],
        size=row[3],
        created_at=row[4],
        metadata=_decode_meta(row[5]),
    )


class SQLiteArtifactStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteArtifactStore({self.path!r})"

    async def __aenter__(self) -> SQLiteArtifactStore:
        if self._db is None:
            await asyncio.to_thread(self._open)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.to_thread(db.close)

    def _open(self) -> None:
        if self.path not in (":memory:", "") and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute(_SCHEMA)
        self._db = db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise StoreError(
                f"{self!r} is not open; use it as `async with store:` (the Runner's owner "
                f"opens it)."
            )

        def locked() -> T:
            with self._lock:
                try:
                    return work(db)
                except sqlite3.Error as exc:
                    raise StoreError(f"artifact store {self.path!r}: {exc}") from exc

        return await asyncio.to_thread(locked)

    @staticmethod
    def _where(app: str, user_id: str, session_id: str, name: str) -> tuple[str, ...]:
        return artifact_key(app, user_id, session_id, name)

    async def save(
        self,
        *,
        app: str,
        user_id: str,
        session_id: str,
        name: str,
        data: bytes,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactInfo:
        key = self._where(app, user_id, session_id, name)
        blob = bytes(data)

        def work(db: sqlite3.Connection) -> ArtifactInfo:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT COALESCE(MAX(version), -1) + 1 FROM agenthost_artifacts "
                    "WHERE app=? AND user_id=? AND owner=? AND name=?",
                    key,
                ).fetchone()
                info = new_info(name, row[0], blob, mime_type, metadata)
                db.execute(
                    "INSERT INTO agenthost_artifacts VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        *key,
                        info.version,
                        info.mime_type,
                        info.size,
                        info.created_at,
                        _encode(info.metadata).decode(),
                        blob,
                    ),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return info

        return await self._run(work)

    async def load(
        self, *, app: str, user_id: str, session_id: str, name: str, version: int | None = None
    ) -> Artifact | None:
        key = self._where(app, user_id, session_id, name)
        sql = (
            f"SELECT {_COLUMNS}, data FROM agenthost_artifacts "
            "WHERE app=? AND user_id=? AND owner=? AND name=?"
        )
        if version is None:
            query, args = sql + " ORDER BY version DESC LIMIT 1", list[object](key)
        else:
            query, args = sql + " AND version=?", [*key, version]

        def work(db: sqlite3.Connection) -> Artifact | None:
            row = db.execute(query, args).fetchone()
            return None if row is None else Artifact(info=_info(row), data=bytes(row[6]))

        return await self._run(work)

    async def list(self, *, app: str, user_id: str, session_id: str) -> list[ArtifactInfo]:
        def work(db: sqlite3.Connection) -> list[ArtifactInfo]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM agenthost_artifacts AS a "
                "WHERE app=? AND user_id=? AND owner IN (?, '') AND version = ("
                "  SELECT MAX(version) FROM agenthost_artifacts AS b WHERE b.app=a.app"
                "  AND b.user_id=a.user_id AND b.owner=a.owner AND b.name=a.name"
                ") ORDER BY name",
                (app, user_id, session_id),
            ).fetchall()
            return [_info(row) for row in rows]

        return await self._run(work)

    async def versions(
        self, *, app: str, user_id: str, session_id: str, name: str
    ) -> builtins.list[ArtifactInfo]:
        key = self._where(app, user_id, session_id, name)

        def work(db: sqlite3.Connection) -> list[ArtifactInfo]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM agenthost_artifacts "
                "WHERE app=? AND user_id=? AND owner=? AND name=? ORDER BY version",
                key,
            ).fetchall()
            return [_info(row) for row in rows]

        return await self._run(work)

    async def delete(self, *, app: str, user_id: str, session_id: str, name: str) -> bool:
        key = self._where(app, user_id, session_id, name)

        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "DELETE FROM agenthost_artifacts WHERE app=? AND user_id=? AND owner=? AND name=?",
                key,
            )
            return cursor.rowcount > 0

        return await self._run(work)
