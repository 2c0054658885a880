"""The knowledge base port: a base answers a query with chunks; a reranker reorders them.

A chunk found in a stored base names its `document` (the id it was added under: a path, a URL
or any id) and its `index` in that document, so a client can cite it; bases that keep whole
documents (InMemoryKnowledgeBase) leave them unset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    score: float = 0.0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    document: str | None = None  # the document it comes from
    index: int | None = None  # its position in that document (0-based)


@runtime_checkable
class KnowledgeBase(Protocol):
    @property
    def id(self) -> str: ...

    async def retrieve(
        self, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]: ...


@runtime_checkable
class Reranker(Protocol):
    """Scores `documents` against `query`: (index into documents, score), best first, at most
    `top_k`. Raises KnowledgeUnavailable when its endpoint fails."""

    @property
    def name(self) -> str: ...

    async def rerank(
        self, query: str, documents: Sequence[str], *, top_k: int
    ) -> list[tuple[int, float]]: ...


class MemoryInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One remembered item of a user: a session (`APP/SESSION_ID`) or a note an agent added
    (`APP/note-...`)."""

    memory_id: str
    chunks: int = 0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    added_at: float = 0.0


@runtime_checkable
class LongTermMemory(Protocol):
    """A user's memory of finished sessions, searched like a knowledge base. Every call names
    the user; one user's memories never answer another's search."""

    async def add_session(
        self, user_id: str, *, app: str, session_id: str, transcript: str
    ) -> int: ...

    async def search(self, user_id: str, query: str, *, top_k: int = 3) -> list[Chunk]: ...

    async def add(
        self, user_id: str, text: str, *, app: str, metadata: dict[str, Any] | None = None
    ) -> str:
        """Remember `text` for the user; its memory id."""
        ...

    async def memories(self, user_id: str) -> list[MemoryInfo]: ...

    async def forget(self, user_id: str, memory_id: str) -> int:
        """Delete one memory (its chunks); InvalidArgument when the user has no such one."""
        ...


__all__ = ["Chunk", "KnowledgeBase", "LongTermMemory", "MemoryInfo", "Reranker"]
