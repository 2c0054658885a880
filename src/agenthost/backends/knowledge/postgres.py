"""The knowledge store on Postgres (asyncpg): full text by `tsvector`, vectors beside it.

Full text: a generated `tsvector` column (`to_tsvector(<language>, text)`, GIN-indexed),
matched by the OR of the query's words and ranked by `ts_rank_cd` (cover density; Postgres has
no BM25). Vectors: float32 `bytea` beside each chunk, searched exactly by a numpy matrix
product kept per base until its `version` changes (store.py), so every replica sees a write at
its next search.

Where the server has pgvector (`CREATE EXTENSION vector`), a deployment changes three things,
documented in docs/knowledge.md: the column becomes `embedding vector(256)`, an index `USING
hnsw (embedding vector_cosine_ops)` is added, and the vector ranking becomes `ORDER BY
embedding <=> $1 LIMIT n` in SQL (approximate, and no matrix in the process's memory). This
machine's PostgreSQL 15 has no pgvector package, so that path is not shipped untested.

Tables: `<prefix>kb_bases`, `<prefix>kb_documents`, `<prefix>kb_chunks` (no prefix by default;
`?table_prefix=x_` in the URL, as the session store's), made by `agenthost db upgrade`
(versioned steps, `MIGRATIONS`; `?migrate=true` applies them at start-up). A store opened on a
database without them refuses to start and says what to run.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import msgspec

from agenthost.backends.common.migrations import Migrated, Schema, Step
from agenthost.backends.common.sql_servers import server_options
from agenthost.backends.knowledge.store import (
    DocumentInfo,
    KnowledgeBaseInfo,
    KnowledgeStore,
    _Row,
    matrix_from_blobs,
    vectors_to_blob,
)
from agenthost.core.errors import MissingExtraError, StoreError, redact_url

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from agenthost.backends.knowledge._embed import Embedder, Vectors

MIGRATIONS: Final = (
    Step(
        1,
        "knowledge bases, documents, chunks with a full-text column",
        (
            """CREATE TABLE IF NOT EXISTS {p}kb_bases (
                id BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '', chunk_size INT NOT NULL,
                chunk_overlap INT NOT NULL, embedder TEXT NOT NULL DEFAULT '',
                version BIGINT NOT NULL DEFAULT 0, created_at DOUBLE PRECISION NOT NULL,
                UNIQUE (owner, name))""",
            """CREATE TABLE IF NOT EXISTS {p}kb_documents (
                kb BIGINT NOT NULL REFERENCES {p}kb_bases (id) ON DELETE CASCADE,
                document TEXT NOT NULL, hash TEXT NOT NULL, metadata JSONB NOT NULL,
                chunks INT NOT NULL, added_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (kb, document))""",
            """CREATE TABLE IF NOT EXISTS {p}kb_chunks (
                id BIGSERIAL PRIMARY KEY,
                kb BIGINT NOT NULL REFERENCES {p}kb_bases (id) ON DELETE CASCADE,
                document TEXT NOT NULL, idx INT NOT NULL, text TEXT NOT NULL,
                metadata JSONB NOT NULL, embedding BYTEA NOT NULL,
                tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('{language}', text)) STORED)""",
            "CREATE INDEX IF NOT EXISTS {p}kb_chunks_tsv ON {p}kb_chunks USING GIN (tsv)",
            "CREATE INDEX IF NOT EXISTS {p}kb_chunks_doc ON {p}kb_chunks (kb, document)",
        ),
    ),
)
_TABLES: Final = ("kb_chunks", "kb_documents", "kb_bases")
_TABLE_NAME = re.compile(r"\bkb_(bases|documents|chunks)\b")


@lru_cache(maxsize=256)
def _prefixed(prefix: str, sql: str) -> str:
    return _TABLE_NAME.sub(lambda m: prefix + m.group(0), sql)


class _Prefixed:
    """A pool (or connection) whose statements name the tables under a prefix."""

    __slots__ = ("_prefix", "_target")

    def __init__(self, target: Any, prefix: str) -> None:
        self._target, self._prefix = target, prefix

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._target.fetch(_prefixed(self._prefix, sql), *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._target.fetchrow(_prefixed(self._prefix, sql), *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._target.fetchval(_prefixed(self._prefix, sql), *args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._target.execute(_prefixed(self._prefix, sql), *args)

    async def executemany(self, sql: str, args: Any) -> Any:
        return await self._target.executemany(_prefixed(self._prefix, sql), args)

    def transaction(self) -> Any:
        return self._target.transaction()

    def acquire(self) -> Any:
        prefix, acquiring = self._prefix, self._target.acquire()

        class _Acquire:
            async def __aenter__(self) -> _Prefixed:
                return _Prefixed(await acquiring.__aenter__(), prefix)

            async def __aexit__(self, *exc_info: Any) -> Any:
                return await acquiring.__aexit__(*exc_info)

        return _Acquire()


_BASE_COLUMNS = (
    "b.id, b.version, b.name, b.owner, b.description, b.chunk_size, b.chunk_overlap, "
    "b.embedder, b.created_at, "
    "(SELECT count(*) FROM kb_documents d WHERE d.kb = b.id), "
    "(SELECT coalesce(sum(d.chunks), 0) FROM kb_documents d WHERE d.kb = b.id)"
)


def _info(row: Any) -> KnowledgeBaseInfo:
    return KnowledgeBaseInfo(
        name=row[2],
        owner=row[3],
        description=row[4],
        chunk_size=row[5],
        chunk_overlap=row[6],
        embedder=row[7],
        created_at=row[8],
        documents=int(row[9]),
        chunks=int(row[10]),
    )


class PostgresKnowledgeStore(Migrated, KnowledgeStore):
    """`url` is a postgresql:// URL (query: `table_prefix`, `pool_size`, `connect_timeout`,
    `migrate`); `language` the text search configuration."""

    _kind = "postgres"
    _role = "knowledge store"

    def __init__(
        self,
        url: str,
        embedder: Embedder,
        *,
        language: str = "english",
        candidates: int = 40,
        pool_size: int = 5,
    ) -> None:
        super().__init__(embedder, candidates=candidates)
        self._configure(server_options(url, {"pool_size": pool_size}, ""))
        if not language.isidentifier():
            raise StoreError(f"language {language!r} is not a text search configuration name")
        self.language = language
        self._schema = Schema(
            "Postgres knowledge store", "kb", MIGRATIONS, fields={"language": language}
        )

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"PostgresKnowledgeStore({redact_url(self.url)!r}, embedder={self.embedder.name!r})"

    async def _new_pool(self) -> Any:
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise MissingExtraError("The Postgres knowledge store", "postgres", "asyncpg") from None
        return await super()._new_pool()

    async def open(self) -> None:
        if self._pool is None:
            self._pool = await self._open_pool()

    async def aclose(self) -> None:
        await self._close()
        await super().aclose()

    async def drop_tables(self) -> None:
        """Drop this prefix's knowledge tables and their versions (tests; destroys data)."""
        await self._drop(*(self.prefix + t for t in _TABLES))

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise RuntimeError("the knowledge store is not open: use 'async with store'")
        return _Prefixed(self._pool, self.prefix) if self.prefix else self._pool

    async def _base(self, owner: str, name: str) -> tuple[int, int, KnowledgeBaseInfo] | None:
        row = await self.pool.fetchrow(
            f"SELECT {_BASE_COLUMNS} FROM kb_bases b WHERE b.owner = $1 AND b.name = $2",
            owner,
            name,
        )
        return None if row is None else (row[0], row[1], _info(row))

    async def _insert_base(self, info: KnowledgeBaseInfo) -> bool:
        status = await self.pool.execute(
            "INSERT INTO kb_bases (owner, name, description, chunk_size, chunk_overlap, "
            "embedder, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (owner, name) DO NOTHING",
            info.owner,
            info.name,
            info.description,
            info.chunk_size,
            info.chunk_overlap,
            info.embedder,
            info.created_at,
        )
        return bool(status.endswith(" 1"))

    async def _delete_base(self, pk: int) -> None:
        await self.pool.execute("DELETE FROM kb_bases WHERE id = $1", pk)

    async def _bases(self, owner: str) -> list[KnowledgeBaseInfo]:
        rows = await self.pool.fetch(
            f"SELECT {_BASE_COLUMNS} FROM kb_bases b WHERE b.owner = $1 ORDER BY b.name", owner
        )
        return [_info(r) for r in rows]

    async def _set_embedder(self, pk: int, embedder: str) -> None:
        await self.pool.execute("UPDATE kb_bases SET embedder = $1 WHERE id = $2", embedder, pk)

    async def _document_hash(self, pk: int, document: str) -> str | None:
        value = await self.pool.fetchval(
            "SELECT hash FROM kb_documents WHERE kb = $1 AND document = $2", pk, document
        )
        return None if value is None else str(value)

    async def _write_document(
        self,
        pk: int,
        document: str,
        digest: str,
        metadata: dict[str, Any],
        chunks: list[str],
        vectors: Vectors,
    ) -> None:
        meta = msgspec.json.encode(metadata).decode()
        rows = [
            (pk, document, i, text, meta, vectors_to_blob(vectors[i]))
            for i, text in enumerate(chunks)
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM kb_chunks WHERE kb = $1 AND document = $2", pk, document
            )
            await conn.executemany(
                "INSERT INTO kb_chunks (kb, document, idx, text, metadata, embedding) "
                "VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
                rows,
            )
            await conn.execute(
                "INSERT INTO kb_documents (kb, document, hash, metadata, chunks, added_at) "
                "VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (kb, document) DO UPDATE "
                "SET hash = excluded.hash, metadata = excluded.metadata, "
                "chunks = excluded.chunks, added_at = excluded.added_at",
                pk,
                document,
                digest,
                meta,
                len(chunks),
                time.time(),
            )
            await conn.execute("UPDATE kb_bases SET version = version + 1 WHERE id = $1", pk)

    async def _delete_document(self, pk: int, document: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM kb_chunks WHERE kb = $1 AND document = $2", pk, document
            )
            await conn.execute(
                "DELETE FROM kb_documents WHERE kb = $1 AND document = $2", pk, document
            )
            await conn.execute("UPDATE kb_bases SET version = version + 1 WHERE id = $1", pk)
        return int(status.rsplit(" ", 1)[-1])

    async def _documents(self, pk: int) -> list[DocumentInfo]:
        rows = await self.pool.fetch(
            "SELECT document, chunks, hash, metadata::text, added_at FROM kb_documents "
            "WHERE kb = $1 ORDER BY document",
            pk,
        )
        return [
            DocumentInfo(
                document=r[0],
                chunks=r[1],
                hash=r[2],
                metadata=msgspec.json.decode(r[3]),
                added_at=r[4],
            )
            for r in rows
        ]

    async def _text_search(
        self, pk: int, terms: list[str], limit: int, filters: dict[str, Any]
    ) -> list[int]:
        # each word as a phrase of its lexemes; OR-ed (a query word that is a stop word drops)
        query = " | ".join(f"'{t}'" for t in terms if "'" not in t and "\\" not in t)
        if not query:
            return []
        rows = await self.pool.fetch(
            "SELECT c.id FROM kb_chunks c, to_tsquery($1::regconfig, $2) q "
            "WHERE c.kb = $3 AND c.tsv @@ q AND c.metadata @> $4::jsonb "
            "ORDER BY ts_rank_cd(c.tsv, q) DESC, c.id LIMIT $5",
            self.language,
            query,
            pk,
            msgspec.json.encode(filters).decode(),
            limit,
        )
        return [r[0] for r in rows]

    async def _load_vectors(self, pk: int) -> tuple[NDArray[np.int64], Vectors]:
        import numpy as np

        rows = await self.pool.fetch(
            "SELECT id, embedding FROM kb_chunks WHERE kb = $1 ORDER BY id", pk
        )
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        return ids, matrix_from_blobs([bytes(r[1]) for r in rows])

    async def _filtered_ids(self, pk: int, filters: dict[str, Any]) -> set[int]:
        rows = await self.pool.fetch(
            "SELECT id FROM kb_chunks WHERE kb = $1 AND metadata @> $2::jsonb",
            pk,
            msgspec.json.encode(filters).decode(),
        )
        return {r[0] for r in rows}

    async def _rows(self, ids: list[int]) -> dict[int, _Row]:
        if not ids:
            return {}
        rows = await self.pool.fetch(
            "SELECT id, document, idx, text, metadata::text FROM kb_chunks WHERE id = ANY($1)",
            ids,
        )
        return {r[0]: _Row(r[1], r[2], r[3], msgspec.json.decode(r[4])) for r in rows}
