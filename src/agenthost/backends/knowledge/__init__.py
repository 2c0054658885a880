"""Knowledge bases.

`InMemoryKnowledgeBase` ranks whole documents by BM25 in process (tests, small fixed sets).
Stored knowledge bases live in a `KnowledgeStore` -- SQLite (FTS5 + vectors) embedded, or
Postgres -- opened by URL with `open_knowledge_store`; they chunk documents, embed the chunks
(the embedded WordLlama model by default, or an OpenAI-compatible endpoint) and search by
hybrid search (full text + vectors, fused by reciprocal rank fusion). See docs/knowledge.md.

Heavy modules (numpy, the store drivers) load only when a store is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenthost.backends.knowledge.memory import InMemoryKnowledgeBase
from agenthost.core.errors import UnknownBackendError

if TYPE_CHECKING:
    from agenthost.backends.knowledge._embed import Embedder, HttpEmbedder, StaticEmbedder
    from agenthost.backends.knowledge._rerank import EmbeddedReranker, HttpReranker
    from agenthost.backends.knowledge.store import (
        DocumentInfo,
        KnowledgeBaseInfo,
        KnowledgeStore,
        StoredKnowledgeBase,
    )

SCHEMES = ("memory", "sqlite", "postgresql", "postgres")


def open_knowledge_store(
    url: str, embedder: Embedder | None = None, **options: Any
) -> KnowledgeStore:
    """A (not yet opened) store for `url`: `memory://` (an SQLite database in memory),
    `sqlite:///path.db`, `postgresql://...`. `embedder` defaults to the embedded model."""
    from agenthost.backends.knowledge._embed import StaticEmbedder

    embedder = embedder if embedder is not None else StaticEmbedder()
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        from agenthost.backends.knowledge.sqlite import SQLiteKnowledgeStore

        return SQLiteKnowledgeStore(":memory:", embedder, **options)
    if scheme == "sqlite":
        from agenthost.backends.knowledge.sqlite import SQLiteKnowledgeStore

        path = url.partition("://")[2]
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db, sqlite:////abs.db
        return SQLiteKnowledgeStore(path or ":memory:", embedder, **options)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        from agenthost.backends.knowledge.postgres import PostgresKnowledgeStore

        return PostgresKnowledgeStore(url, embedder, **options)
    raise UnknownBackendError(url, scheme, SCHEMES)


def __getattr__(name: str) -> Any:
    if name in ("KnowledgeStore", "StoredKnowledgeBase", "KnowledgeBaseInfo", "DocumentInfo"):
        from agenthost.backends.knowledge import store

        return getattr(store, name)
    if name in ("StaticEmbedder", "HttpEmbedder"):
        from agenthost.backends.knowledge import _embed

        return getattr(_embed, name)
    if name in ("EmbeddedReranker", "HttpReranker"):
        from agenthost.backends.knowledge import _rerank

        return getattr(_rerank, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DocumentInfo",
    "EmbeddedReranker",
    "HttpEmbedder",
    "HttpReranker",
    "InMemoryKnowledgeBase",
    "KnowledgeBaseInfo",
    "KnowledgeStore",
    "StaticEmbedder",
    "StoredKnowledgeBase",
    "open_knowledge_store",
]
