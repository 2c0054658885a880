"""`PostgresArtifactStore` (`postgresql://user@host/db`, extra `postgres`): artifacts as
`bytea` rows in `<prefix>artifacts` (prefix `agenthost_` by default, as the session store's
tables), an asyncpg pool.

Point it at the session store's database to keep sessions and their artifacts together. The
table is made by `agenthost db upgrade` (versioned steps, `MIGRATIONS`; `?migrate=true` applies
them at start-up); a store opened on a database without them refuses to start and says so. A
save reads `MAX(version) + 1` and inserts with `ON CONFLICT DO NOTHING`: a writer that lost the
race to another reads the next version and tries again, so two writers never share a version.
URL query options: `table_prefix`, `pool_size` (4), `connect_timeout` (10 s), `migrate`.
"""

from __future__ import annotations

import builtins
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
from agenthost.backends.common.sql_servers import server_options
from agenthost.core.errors import StoreError, redact_url
from agenthost.ports.artifacts import (
    Artifact,
    ArtifactInfo,
    artifact_key,
    new_info,
)

_KEY = "app = $1 AND user_id = $2 AND owner = $3 AND name = $4"

MIGRATIONS: Final = (
    Step(
        1,
        "the artifacts table",
        (
            """CREATE TABLE IF NOT EXISTS {p}artifacts (
                app TEXT NOT NULL, user_id TEXT NOT NULL,
                owner TEXT NOT NULL,  -- the session id, '' for the user's artifacts
                name TEXT NOT NULL, version INTEGER NOT NULL, mime_type TEXT NOT NULL,
                size BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                metadata TEXT NOT NULL, data BYTEA NOT NULL,
                PRIMARY KEY (app, user_id, owner, name, version))""",
        ),
    ),
)
SCHEMA: Final = Schema("Postgres artifact store", "artifacts", MIGRATIONS)


class PostgresArtifactStore(Migrated):
    _kind = "postgres"
    _schema = SCHEMA

    _role = "artifact store"

    def __init__(self, url: str, **options: Any) -> None:
        self._configure(server_options(url, options))
        self.table = f"{self.prefix}artifacts"

    def __repr__(self) -> str:
        return f"PostgresArtifactStore({redact_url(self._url)!r}, {self.table!r})"

    async def __aenter__(self) -> PostgresArtifactStore:
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

    def _p(self) -> Any:
        if self._pool is None:
            raise StoreError(
                f"{self!r} is not open; use it as `async with store:` (the Runner's owner "
                f"opens it)."
            )
        return self._pool

    @staticmethod
    def _key(app: str, user_id: str, session_id: str, name: str) -> tuple[str, ...]:
        return artifact_key(app, user_id, session_id, name)

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
        key = self._key(app, user_id, session_id, name)
        blob = bytes(data)
        pool = self._p()
        for _ in range(MAX_ATTEMPTS):
            version = await pool.fetchval(
                f"SELECT COALESCE(MAX(version), -1) + 1 FROM {self.table} WHERE {_KEY}", *key
            )
            info = new_info(name, version, blob, mime_type, metadata)
            inserted = await pool.fetchval(
                f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                "ON CONFLICT DO NOTHING RETURNING version",
                *key,
                info.version,
                info.mime_type,
                info.size,
                info.created_at,
                encode_meta(info.metadata).decode(),
                blob,
            )
            if inserted is not None:
                return info
        raise StoreError(
            f"artifact {name!r}: {MAX_ATTEMPTS} other writers saved it while this save tried; "
            f"try again."
        )

    async def load(
        self, *, app: str, user_id: str, session_id: str, name: str, version: int | None = None
    ) -> Artifact | None:
        key = self._key(app, user_id, session_id, name)
        sql = f"SELECT {COLUMNS}, data FROM {self.table} WHERE {_KEY}"
        if version is None:
            row = await self._p().fetchrow(sql + " ORDER BY version DESC LIMIT 1", *key)
        else:
            row = await self._p().fetchrow(sql + " AND version = $5", *key, version)
        return None if row is None else Artifact(info=info_of(row), data=bytes(row[6]))

    async def list(self, *, app: str, user_id: str, session_id: str) -> list[ArtifactInfo]:
        rows = await self._p().fetch(list_sql(self.table, "${}"), app, user_id, session_id)
        return [info_of(row) for row in rows]

    async def versions(
        self, *, app: str, user_id: str, session_id: str, name: str
    ) -> builtins.list[ArtifactInfo]:
        key = self._key(app, user_id, session_id, name)
        rows = await self._p().fetch(
            f"SELECT {COLUMNS} FROM {self.table} WHERE {_KEY} ORDER BY version", *key
        )
        return [info_of(row) for row in rows]

    async def delete(self, *, app: str, user_id: str, session_id: str, name: str) -> bool:
        key = self._key(app, user_id, session_id, name)
        status: str = await self._p().execute(f"DELETE FROM {self.table} WHERE {_KEY}", *key)
        return status != "DELETE 0"
