"""`MySQLArtifactStore` (`mysql://user:pw@host:3306/db`, also `mariadb://`; extra `mysql`):
artifacts as `LONGBLOB` rows in `<prefix>artifacts` (prefix `agenthost_` by default), an
asyncmy pool.

The table is made by `agenthost db upgrade` (versioned steps, `MIGRATIONS`; `?migrate=true`
applies them at start-up); a store opened without them refuses to start. Text columns are
utf8mb4_bin (names compare byte for byte). (app, user_id, owner, name) is longer than an
InnoDB key may be, so the primary key is (`k`, version) with `k` the SHA-256 of those four;
they are kept as columns too, for `list`. A save reads `MAX(version) + 1` and inserts; a
writer that lost the race (duplicate key, or a deadlock between the two) reads again and
tries the next version. The server's `max_allowed_packet` bounds the size of one artifact.
URL query options: `table_prefix`, `pool_size` (4), `connect_timeout` (10 s), `migrate`.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final

from agenthost.backends.artifacts._server import (
    COLUMNS,
    MAX_ATTEMPTS,
    encode_meta,
    info_of,
    list_sql,
)
from agenthost.backends.common.migrations import Migrated, Schema, Step
from agenthost.backends.common.sql_servers import (
    server_options,
)
from agenthost.core.errors import StoreError, redact_url
from agenthost.ports.artifacts import (
    Artifact,
    ArtifactInfo,
    artifact_key,
    new_info,
    owner_session,
)

_TEXT: Final = "VARCHAR(255) NOT NULL"
_RACES: Final = (1062, 1213)  # duplicate key, deadlock: another save took the version


MIGRATIONS: Final = (
    Step(
        1,
        "the artifacts table",
        (
            f"""CREATE TABLE IF NOT EXISTS {{p}}artifacts (
                k BINARY(32) NOT NULL, version INT NOT NULL,
                app {_TEXT}, user_id {_TEXT}, owner {_TEXT}, name VARCHAR(300) NOT NULL,
                mime_type {_TEXT}, size BIGINT NOT NULL, created_at DOUBLE NOT NULL,
                metadata LONGTEXT NOT NULL, data LONGBLOB NOT NULL,
                PRIMARY KEY (k, version), KEY by_owner (app, user_id, owner))
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
        ),
    ),
)
SCHEMA: Final = Schema("MySQL artifact store", "artifacts", MIGRATIONS)


def _k(app: str, user_id: str, owner: str, name: str) -> bytes:
    return hashlib.sha256("\x00".join((app, user_id, owner, name)).encode()).digest()


class MySQLArtifactStore(Migrated):
    _kind = "mysql"
    _schema = SCHEMA

    _role = "artifact store"

    def __init__(self, url: str, **options: Any) -> None:
        self._configure(server_options(url, options))
        self.table = f"{self.prefix}artifacts"

    def __repr__(self) -> str:
        return f"MySQLArtifactStore({redact_url(self._url)!r}, {self.table!r})"

    async def __aenter__(self) -> MySQLArtifactStore:
        if self._pool is not None:
            return self
        self._pool = await self._open_pool()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Any]:
        from asyncmy import errors

        if self._pool is None:
            raise StoreError(
                f"{self!r} is not open; use it as `async with store:` (the Runner's owner "
                f"opens it)."
            )
        try:
            async with self._pool.acquire() as conn, conn.cursor() as cur:
                yield cur
        except errors.Error as exc:
            raise StoreError(f"MySQL artifact store {redact_url(self._url)!r}: {exc}") from exc

    @staticmethod
    def _key(app: str, user_id: str, session_id: str, name: str) -> tuple[bytes, ...]:
        return (_k(*artifact_key(app, user_id, session_id, name)),)

    async def drop_table(self) -> None:
        """Remove the table, its versions and every artifact (tests use it to clean up)."""
        await self._drop(self.table)

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
        from asyncmy import errors

        key = self._key(app, user_id, session_id, name)
        owner = owner_session(name, session_id)
        blob = bytes(data)
        for _ in range(MAX_ATTEMPTS):
            async with self._cursor() as cur:
                await cur.execute(
                    f"SELECT COALESCE(MAX(version), -1) + 1 FROM {self.table} WHERE k = %s", key
                )
                info = new_info(name, int((await cur.fetchone())[0]), blob, mime_type, metadata)
                try:
                    await cur.execute(
                        f"INSERT INTO {self.table} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (
                            *key,
                            info.version,
                            app,
                            user_id,
                            owner,
                            name,
                            info.mime_type,
                            info.size,
                            info.created_at,
                            encode_meta(info.metadata).decode(),
                            blob,
                        ),
                    )
                except errors.Error as exc:
                    if not (exc.args and exc.args[0] in _RACES):
                        raise StoreError(
                            f"MySQL artifact store {redact_url(self._url)!r}: {exc}"
                        ) from exc
                    continue
            return info
        raise StoreError(
            f"artifact {name!r}: {MAX_ATTEMPTS} other writers saved it while this save tried; "
            f"try again."
        )

    async def load(
        self, *, app: str, user_id: str, session_id: str, name: str, version: int | None = None
    ) -> Artifact | None:
        key = self._key(app, user_id, session_id, name)
        sql = f"SELECT {COLUMNS}, data FROM {self.table} WHERE k = %s"
        async with self._cursor() as cur:
            if version is None:
                await cur.execute(sql + " ORDER BY version DESC LIMIT 1", key)
            else:
                await cur.execute(sql + " AND version = %s", (*key, version))
            row = await cur.fetchone()
        return None if row is None else Artifact(info=info_of(row), data=bytes(row[6]))

    async def list(self, *, app: str, user_id: str, session_id: str) -> list[ArtifactInfo]:
        async with self._cursor() as cur:
            await cur.execute(list_sql(self.table, "%s"), (app, user_id, session_id))
            rows = await cur.fetchall()
        return [info_of(row) for row in rows]

    async def versions(
        self, *, app: str, user_id: str, session_id: str, name: str
    ) -> builtins.list[ArtifactInfo]:
        key = self._key(app, user_id, session_id, name)
        async with self._cursor() as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {self.table} WHERE k = %s ORDER BY version", key
            )
            rows = await cur.fetchall()
        return [info_of(row) for row in rows]

    async def delete(self, *, app: str, user_id: str, session_id: str, name: str) -> bool:
        key = self._key(app, user_id, session_id, name)
        async with self._cursor() as cur:
            count: int = await cur.execute(f"DELETE FROM {self.table} WHERE k = %s", key)
        return count > 0
