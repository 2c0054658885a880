"""The knowledge base port."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    score: float = 0.0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


@runtime_checkable
class KnowledgeBase(Protocol):
    @property
    def id(self) -> str: ...

    async def retrieve(
        self, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]: ...
