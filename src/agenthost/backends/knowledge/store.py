"""Knowledge stores: many knowledge bases, each owned by one user, searched by hybrid search.

A store keeps, per knowledge base, its documents (by the id they were added under: a path, a
URL, any string), their chunks, each chunk's embedding and a full-text index. Search is hybrid:
the full-text ranking (SQLite FTS5 BM25, or Postgres `ts_rank_cd`) and the vector ranking
(cosine similarity of unit vectors) each give their best `candidates`, fused by reciprocal rank
fusion (score = sum of 1 / (60 + rank)). `mode="text"` or `"vector"` uses one ranking alone.

Re-adding a document replaces its chunks (an unchanged one, same text hash, is skipped);
removing it removes them. A base is found by (owner, name): another user's base is "not found".

When the embedding endpoint fails during a hybrid search, the store raises KnowledgeUnavailable
carrying the full-text results as `fallback`: the caller (the agent, by its
`on_retrieval_error` option) answers from them or fails the run.

The vectors of a base are read once into a numpy matrix and kept until the base changes (its
`version`): an exact search over 10,000 chunks of 256 dimensions is one matrix product.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from agenthost.backends.knowledge._text import STOPWORDS, chunk_text, content_hash
from agenthost.core.errors import (
    ConfigError,
    InvalidArgument,
    KnowledgeBaseNotFound,
    KnowledgeUnavailable,
)
from agenthost.ports.knowledge import Chunk

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from agenthost.backends.knowledge._embed import Embedder, Vectors

SearchMode = Literal["hybrid", "text", "vector"]
RRF_K = 60
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^\w{1,64}$")
_WORD = re.compile(r"\w+", re.UNICODE)


class KnowledgeBaseInfo(msgspec.Struct, kw_only=True):
    name: str
    owner: str
    description: str = ""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    embedder: str = ""
    documents: int = 0
    chunks: int = 0
    created_at: float = 0.0


class DocumentInfo(msgspec.Struct, kw_only=True):
    document: str
    chunks: int
    hash: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    added_at: float = 0.0


class AddResult(msgspec.Struct, kw_only=True):
    document: str
    chunks: int
    status: Literal["added", "replaced", "unchanged"]


@dataclass(slots=True)
class _Row:
    """A stored chunk as search reads it back."""

    document: str
    index: int
    text: str
    metadata: dict[str, Any]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidArgument(
            "name",
            f"{name!r} is not a knowledge base name: use 1-64 letters, digits, '_', '-' or '.', "
            f"starting with a letter or digit",
        )
    return name


def check_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    filters = dict(filters or {})
    for key, value in filters.items():
        if not _KEY.match(key):
            raise InvalidArgument(f"filters.{key}", "filter keys are 1-64 word characters")
        if not isinstance(value, str | int | float | bool) or value is None:
            raise InvalidArgument(
                f"filters.{key}", f"filter values are strings, numbers or booleans, not {value!r}"
            )
    return filters


def query_terms(query: str) -> list[str]:
    """The distinct lower-cased words of a query, in order, stop words dropped (unless the
    query has nothing else): OR-ing 'the' and 'of' only makes full-text search slow."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    content = [w for w in seen if w not in STOPWORDS]
    return content or list(seen)


def _ranked(ids: Sequence[int]) -> list[tuple[int, float]]:
    """One ranking alone, scored as fusion scores it."""
    return [(item, 1.0 / (RRF_K + rank + 1)) for rank, item in enumerate(ids)]


def rrf(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists: (id, fused score), best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


class KnowledgeStore(ABC):
    """The storage-independent part; SQLite and Postgres stores fill in the primitives."""

    def __init__(self, embedder: Embedder, *, candidates: int = 40) -> None:
        self.embedder = embedder
        self.candidates = candidates
        self._matrices: dict[int, tuple[int, NDArray[np.int64], Vectors]] = {}

    async def __aenter__(self) -> KnowledgeStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abstractmethod
    async def open(self) -> None:
        """Connect and create the tables if needed (idempotent)."""

    async def aclose(self) -> None:
        await self.embedder.aclose()

    # ---- primitives ----------------------------------------------------------------------

    @abstractmethod
    async def _base(self, owner: str, name: str) -> tuple[int, int, KnowledgeBaseInfo] | None:
        """(pk, version, info) of a base."""

    @abstractmethod
    async def _insert_base(self, info: KnowledgeBaseInfo) -> bool:
        """False when (owner, name) exists."""

    @abstractmethod
    async def _delete_base(self, pk: int) -> None: ...

    @abstractmethod
    async def _bases(self, owner: str) -> list[KnowledgeBaseInfo]: ...

    @abstractmethod
    async def _set_embedder(self, pk: int, embedder: str) -> None: ...

    @abstractmethod
    async def _document_hash(self, pk: int, document: str) -> str | None: ...

    @abstractmethod
    async def _write_document(
        self,
        pk: int,
        document: str,
        digest: str,
        metadata: dict[str, Any],
        chunks: list[str],
        vectors: Vectors,
    ) -> None:
        """Replace the document's chunks (in one transaction) and bump the base's version."""

    @abstractmethod
    async def _delete_document(self, pk: int, document: str) -> int:
        """Remove it and its chunks; the number of chunks removed (0: not there)."""

    @abstractmethod
    async def _documents(self, pk: int) -> list[DocumentInfo]: ...

    @abstractmethod
    async def _text_search(
        self, pk: int, terms: list[str], limit: int, filters: dict[str, Any]
    ) -> list[int]:
        """Chunk ids ranked by full-text relevance (best first)."""

    @abstractmethod
    async def _load_vectors(self, pk: int) -> tuple[NDArray[np.int64], Vectors]: ...

    @abstractmethod
    async def _filtered_ids(self, pk: int, filters: dict[str, Any]) -> set[int]: ...

    @abstractmethod
    async def _rows(self, ids: list[int]) -> dict[int, _Row]: ...

    # ---- bases ---------------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        name: str,
        *,
        description: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        exist_ok: bool = False,
    ) -> KnowledgeBaseInfo:
        """A new base (KnowledgeBaseExists unless `exist_ok`, which returns the existing one)."""
        from agenthost.core.errors import KnowledgeBaseExists

        check_name(name)
        try:
            chunk_text("x", size=chunk_size, overlap=chunk_overlap)
        except ValueError as exc:
            raise InvalidArgument("chunk_overlap", str(exc)) from None
        info = KnowledgeBaseInfo(
            name=name,
            owner=owner,
            description=description,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            embedder=self.embedder.name,
            created_at=time.time(),
        )
        if not await self._insert_base(info):
            if exist_ok:
                return await self.get(owner, name)
            raise KnowledgeBaseExists(name)
        return info

    async def ensure(
        self, owner: str, name: str, *, chunk_size: int, chunk_overlap: int
    ) -> KnowledgeBaseInfo:
        """The base, created if missing; `name` is not checked, so the store's own bases
        (names starting with '_', hidden from `bases()`) are made here."""
        found = await self._base(owner, name)
        if found is not None:
            return found[2]
        info = KnowledgeBaseInfo(
            name=name,
            owner=owner,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            embedder=self.embedder.name,
            created_at=time.time(),
        )
        await self._insert_base(info)
        return info

    async def get(self, owner: str, name: str) -> KnowledgeBaseInfo:
        return (await self._require(owner, name))[2]

    async def bases(self, owner: str) -> list[KnowledgeBaseInfo]:
        """The owner's bases, by name (not the store's own, such as the memory)."""
        return [b for b in await self._bases(owner) if not b.name.startswith("_")]

    async def delete(self, owner: str, name: str) -> None:
        pk = (await self._require(owner, name))[0]
        await self._delete_base(pk)
        self._matrices.pop(pk, None)

    async def _require(self, owner: str, name: str) -> tuple[int, int, KnowledgeBaseInfo]:
        found = await self._base(owner, name)
        if found is None:
            raise KnowledgeBaseNotFound(name, [b.name for b in await self.bases(owner)])
        return found

    def _check_embedder(self, info: KnowledgeBaseInfo) -> None:
        if info.embedder and info.embedder != self.embedder.name and info.chunks:
            raise ConfigError(
                f"Knowledge base {info.name!r} was filled with the embedder {info.embedder!r}, "
                f"but the store now embeds with {self.embedder.name!r}. Set knowledge.embedding "
                f"back to {info.embedder!r}, or delete the base and add its documents again."
            )

    # ---- documents -----------------------------------------------------------------------

    async def add(
        self,
        owner: str,
        name: str,
        document: str,
        text: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> AddResult:
        """Add or replace one document's text (DocumentError-free: the text is read already)."""
        pk, _, info = await self._require(owner, name)
        self._check_embedder(info)
        meta = dict(metadata or {})
        digest = content_hash(text + "\0" + msgspec.json.encode(meta).decode())
        previous = await self._document_hash(pk, document)
        if previous == digest:
            return AddResult(document=document, chunks=0, status="unchanged")
        chunks = chunk_text(text, size=info.chunk_size, overlap=info.chunk_overlap)
        vectors = await self.embedder.embed(chunks)
        if info.embedder != self.embedder.name:
            await self._set_embedder(pk, self.embedder.name)
        await self._write_document(pk, document, digest, meta, chunks, vectors)
        status: Literal["added", "replaced"] = "added" if previous is None else "replaced"
        return AddResult(document=document, chunks=len(chunks), status=status)

    async def remove(self, owner: str, name: str, document: str) -> int:
        pk = (await self._require(owner, name))[0]
        removed = await self._delete_document(pk, document)
        if not removed and await self._document_hash(pk, document) is None:
            raise InvalidArgument(
                "document", f"{document!r} is not in knowledge base {name!r} ('kb ls {name}')"
            )
        return removed

    async def documents(self, owner: str, name: str) -> list[DocumentInfo]:
        pk = (await self._require(owner, name))[0]
        return await self._documents(pk)

    # ---- search --------------------------------------------------------------------------

    async def search(
        self,
        owner: str,
        name: str,
        query: str,
        *,
        top_k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Chunk]:
        if top_k < 1:
            raise InvalidArgument("top_k", f"must be >= 1, got {top_k}")
        pk, version, info = await self._require(owner, name)
        self._check_embedder(info)
        wanted = check_filters(filters)
        limit = max(self.candidates, top_k)
        text_ids: list[int] = []
        if mode != "vector":
            terms = query_terms(query)
            text_ids = await self._text_search(pk, terms, limit, wanted) if terms else []
        if mode == "text":
            return await self._chunks(name, _ranked(text_ids)[:top_k])
        try:
            vector_ids = await self._vector_search(pk, version, query, limit, wanted)
        except KnowledgeUnavailable as exc:
            if mode == "vector":
                raise
            exc.fallback = await self._chunks(name, _ranked(text_ids)[:top_k])
            raise
        rankings = [vector_ids] if mode == "vector" else [text_ids, vector_ids]
        return await self._chunks(name, rrf(rankings)[:top_k])

    async def _vector_search(
        self, pk: int, version: int, query: str, limit: int, filters: dict[str, Any]
    ) -> list[int]:
        import numpy as np

        cached = self._matrices.get(pk)
        if cached is None or cached[0] != version:
            ids, matrix = await self._load_vectors(pk)
            cached = (version, ids, matrix)
            self._matrices[pk] = cached
        _, ids, matrix = cached
        query_vector = (await self.embedder.embed([query]))[0]
        if not len(ids):
            return []
        if matrix.shape[1] != query_vector.shape[0]:
            raise ConfigError(
                f"The stored vectors have {matrix.shape[1]} dimensions and the embedder "
                f"{self.embedder.name!r} gives {query_vector.shape[0]}: re-add the documents."
            )
        scores = np.einsum("ij,j->i", matrix, query_vector)  # no BLAS threads: steadier
        if filters:
            allowed = await self._filtered_ids(pk, filters)
            scores = np.where(np.isin(ids, list(allowed)), scores, -np.inf)
        count = min(limit, len(ids))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top])]
        return [int(ids[i]) for i in top if np.isfinite(scores[i])]

    async def _chunks(self, name: str, ranked: list[tuple[int, float]]) -> list[Chunk]:
        rows = await self._rows([i for i, _ in ranked])
        chunks = []
        for chunk_id, score in ranked:
            row = rows.get(chunk_id)
            if row is None:
                continue
            chunks.append(
                Chunk(
                    id=f"{row.document}#{row.index}",
                    text=row.text,
                    score=round(score, 6),
                    metadata={**row.metadata, "kb": name},
                    document=row.document,
                    index=row.index,
                )
            )
        return chunks

    def base(self, owner: str, name: str, *, kb_id: str | None = None) -> StoredKnowledgeBase:
        """The KnowledgeBase (port) view of one base, for agents and the host API."""
        return StoredKnowledgeBase(self, owner, name, kb_id=kb_id)


class StoredKnowledgeBase:
    """One base of a store as the KnowledgeBase port: `retrieve` is a hybrid search."""

    def __init__(
        self, store: KnowledgeStore, owner: str, name: str, *, kb_id: str | None = None
    ) -> None:
        self.store = store
        self.owner = owner
        self.name = name
        self._id = kb_id or name

    def __repr__(self) -> str:
        return f"StoredKnowledgeBase(owner={self.owner!r}, name={self.name!r})"

    @property
    def id(self) -> str:
        return self._id

    async def retrieve(
        self, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        return await self.store.search(self.owner, self.name, query, top_k=top_k, filters=filters)


def vectors_to_blob(vector: Vectors) -> bytes:
    import numpy as np

    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def matrix_from_blobs(blobs: Sequence[bytes], dim_hint: int = 0) -> Vectors:
    import numpy as np

    if not blobs:
        return np.zeros((0, dim_hint), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()
