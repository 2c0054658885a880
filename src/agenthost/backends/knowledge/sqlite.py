"""The embedded knowledge store: one SQLite file with an FTS5 index and the chunk vectors.

Full text: an FTS5 table over the chunks (`porter unicode61` tokenizer), ranked by its BM25
(`bm25()`); a query's words are OR-ed. Vectors: float32 blobs beside each chunk, searched
exactly by a numpy matrix product (store.py). sqlite-vec would hold them in a `vec0` table
instead, but it is an extension and this interpreter's `sqlite3` (like many pyenv and some
distribution builds) is compiled without `enable_load_extension`; vec0 also searches exactly
(brute force), so the numpy product is the same search without the extension.

Statements run on the event loop on a direct connection (WAL), as the session store does:
short writes cost less there than a thread hop (DESIGN.md). The embedding of a document's
chunks runs in a thread (the embedder's business).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agenthost.backends.knowledge.store import (
    DocumentInfo,
    KnowledgeBaseInfo,
    KnowledgeStore,
    _Row,
    matrix_from_blobs,
    vectors_to_blob,
)
from agenthost.core.errors import BackendUnavailable

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from agenthost.backends.knowledge._embed import Embedder, Vectors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_bases (
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', chunk_size INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL, embedder TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, UNIQUE (owner, name));
CREATE TABLE IF NOT EXISTS kb_documents (
    kb INTEGER NOT NULL, document TEXT NOT NULL, hash TEXT NOT NULL, metadata TEXT NOT NULL,
    chunks INTEGER NOT NULL, added_at REAL NOT NULL, PRIMARY KEY (kb, document));
CREATE TABLE IF NOT EXISTS kb_chunks (
    id INTEGER PRIMARY KEY, kb INTEGER NOT NULL, document TEXT NOT NULL, idx INTEGER NOT NULL,
    text TEXT NOT NULL, metadata TEXT NOT NULL, embedding BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks (kb, document);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5(
    text, content='kb_chunks', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS kb_chunks_ai AFTER INSERT ON kb_chunks BEGIN
    INSERT INTO kb_fts (rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER IF NOT EXISTS kb_chunks_ad AFTER DELETE ON kb_chunks BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
"""
_BASE_COLUMNS = (
    "b.id, b.version, b.name, b.owner, b.description, b.chunk_size, b.chunk_overlap, "
    "b.embedder, b.created_at, "
    "(SELECT count(*) FROM kb_documents d WHERE d.kb = b.id), "
    "(SELECT coalesce(sum(d.chunks), 0) FROM kb_documents d WHERE d.kb = b.id)"
)


def _info(row: tuple[Any, ...]) -> KnowledgeBaseInfo:
    return KnowledgeBaseInfo(
        name=row[2],
        owner=row[3],
        description=row[4],
        chunk_size=row[5],
        chunk_overlap=row[6],
        embedder=row[7],
        created_at=row[8],
        documents=row[9],
        chunks=row[10],
    )


def _filter_sql(filters: dict[str, Any], alias: str = "c") -> tuple[str, list[Any]]:
    """`AND json_extract(...) = ?` per filter (keys are checked word characters)."""
    sql, params = "", []
    for key, value in filters.items():
        sql += f" AND json_extract({alias}.metadata, '$.{key}') = ?"
        params.append(int(value) if isinstance(value, bool) else value)
    return sql, params


class SQLiteKnowledgeStore(KnowledgeStore):
    """`path` is a file, or ':memory:'."""

    def __init__(self, path: str | Path, embedder: Embedder, *, candidates: int = 40) -> None:
        super().__init__(embedder, candidates=candidates)
        self.path = str(path)
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteKnowledgeStore(path={self.path!r}, embedder={self.embedder.name!r})"

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise BackendUnavailable(
                f"Cannot open the knowledge store {self.path!r}: {exc}. Check the path and its "
                f"permissions (knowledge.url in agenthost.yaml)."
            ) from exc
        self._db = db

    async def aclose(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        await super().aclose()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the knowledge store is not open: use 'async with store'")
        return self._db

    async def _base(self, owner: str, name: str) -> tuple[int, int, KnowledgeBaseInfo] | None:
        row = self.db.execute(
            f"SELECT {_BASE_COLUMNS} FROM kb_bases b WHERE b.owner = ? AND b.name = ?",
            (owner, name),
        ).fetchone()
        return None if row is None else (row[0], row[1], _info(row))

    async def _insert_base(self, info: KnowledgeBaseInfo) -> bool:
        try:
            self.db.execute(
                "INSERT INTO kb_bases (owner, name, description, chunk_size, chunk_overlap, "
                "embedder, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    info.owner,
                    info.name,
                    info.description,
                    info.chunk_size,
                    info.chunk_overlap,
                    info.embedder,
                    info.created_at,
                ),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def _delete_base(self, pk: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM kb_chunks WHERE kb = ?", (pk,))
            self.db.execute("DELETE FROM kb_documents WHERE kb = ?", (pk,))
            self.db.execute("DELETE FROM kb_bases WHERE id = ?", (pk,))

    async def _bases(self, owner: str) -> list[KnowledgeBaseInfo]:
        rows = self.db.execute(
            f"SELECT {_BASE_COLUMNS} FROM kb_bases b WHERE b.owner = ? ORDER BY b.name", (owner,)
        ).fetchall()
        return [_info(r) for r in rows]

    async def _set_embedder(self, pk: int, embedder: str) -> None:
        self.db.execute("UPDATE kb_bases SET embedder = ? WHERE id = ?", (embedder, pk))

    async def _document_hash(self, pk: int, document: str) -> str | None:
        row = self.db.execute(
            "SELECT hash FROM kb_documents WHERE kb = ? AND document = ?", (pk, document)
        ).fetchone()
        return None if row is None else str(row[0])

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
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM kb_chunks WHERE kb = ? AND document = ?", (pk, document))
            db.executemany(
                "INSERT INTO kb_chunks (kb, document, idx, text, metadata, embedding) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute(
                "INSERT OR REPLACE INTO kb_documents (kb, document, hash, metadata, chunks, "
                "added_at) VALUES (?, ?, ?, ?, ?, ?)",
                (pk, document, digest, meta, len(chunks), time.time()),
            )
            db.execute("UPDATE kb_bases SET version = version + 1 WHERE id = ?", (pk,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def _delete_document(self, pk: int, document: str) -> int:
        with self.db:
            removed = self.db.execute(
                "DELETE FROM kb_chunks WHERE kb = ? AND document = ?", (pk, document)
            ).rowcount
            self.db.execute(
                "DELETE FROM kb_documents WHERE kb = ? AND document = ?", (pk, document)
            )
            self.db.execute("UPDATE kb_bases SET version = version + 1 WHERE id = ?", (pk,))
        return int(removed)

    async def _documents(self, pk: int) -> list[DocumentInfo]:
        rows = self.db.execute(
            "SELECT document, chunks, hash, metadata, added_at FROM kb_documents WHERE kb = ? "
            "ORDER BY document",
            (pk,),
        ).fetchall()
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
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        extra, params = _filter_sql(filters)
        rows = self.db.execute(
            "SELECT c.id FROM kb_fts JOIN kb_chunks c ON c.id = kb_fts.rowid "
            f"WHERE kb_fts MATCH ? AND c.kb = ?{extra} ORDER BY bm25(kb_fts) LIMIT ?",
            (match, pk, *params, limit),
        ).fetchall()
        return [r[0] for r in rows]

    async def _load_vectors(self, pk: int) -> tuple[NDArray[np.int64], Vectors]:
        import numpy as np

        rows = self.db.execute(
            "SELECT id, embedding FROM kb_chunks WHERE kb = ? ORDER BY id", (pk,)
        ).fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        return ids, matrix_from_blobs([r[1] for r in rows])

    async def _filtered_ids(self, pk: int, filters: dict[str, Any]) -> set[int]:
        extra, params = _filter_sql(filters)
        rows = self.db.execute(
            f"SELECT c.id FROM kb_chunks c WHERE c.kb = ?{extra}", (pk, *params)
        ).fetchall()
        return {r[0] for r in rows}

    async def _rows(self, ids: list[int]) -> dict[int, _Row]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT id, document, idx, text, metadata FROM kb_chunks WHERE id IN ({marks})", ids
        ).fetchall()
        return {r[0]: _Row(r[1], r[2], r[3], msgspec.json.decode(r[4])) for r in rows}
