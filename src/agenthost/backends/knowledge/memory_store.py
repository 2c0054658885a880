"""Long-term memory: each user's finished sessions, kept in the knowledge store and found by
the same hybrid search.

A user's memory is a base named `_memory` owned by that user (a name `kb create` cannot make,
and `bases()` does not list). A session is one document, `APP/SESSION_ID`, whose text is the
conversation (`user: ...` / `assistant: ...` lines); adding it again replaces it, so adding
after every turn keeps the memory of a session current. Searches and deletions always name
the user: nobody reaches another user's memory.
"""

from __future__ import annotations

import uuid
from typing import Any

from agenthost.backends.knowledge.store import DocumentInfo, KnowledgeStore
from agenthost.core.errors import InvalidArgument
from agenthost.ports.knowledge import Chunk, MemoryInfo

MEMORY = "_memory"


class KnowledgeMemory:
    """The LongTermMemory port over a KnowledgeStore."""

    def __init__(
        self, store: KnowledgeStore, *, chunk_size: int = 800, chunk_overlap: int = 100
    ) -> None:
        self.store = store
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap

    async def _base(self, user_id: str) -> None:
        if not user_id:
            raise InvalidArgument("user_id", "memory belongs to a user: give a user id")
        await self.store.ensure(
            user_id, MEMORY, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap
        )

    async def add_session(self, user_id: str, *, app: str, session_id: str, transcript: str) -> int:
        """Remember a session (replacing what was remembered of it); the chunks stored."""
        if not transcript.strip():
            return 0
        await self._base(user_id)
        meta: dict[str, Any] = {"app": app, "session_id": session_id}
        result = await self.store.add(user_id, MEMORY, f"{app}/{session_id}", transcript, meta)
        return result.chunks

    async def search(self, user_id: str, query: str, *, top_k: int = 3) -> list[Chunk]:
        await self._base(user_id)
        return await self.store.search(user_id, MEMORY, query, top_k=top_k)

    async def add(
        self, user_id: str, text: str, *, app: str, metadata: dict[str, Any] | None = None
    ) -> str:
        """Remember a note (`host.memory.add`): a document `APP/note-<id>`; its id."""
        if not text.strip():
            raise InvalidArgument("text", "a memory needs some text")
        await self._base(user_id)
        memory_id = f"{app}/note-{uuid.uuid4().hex[:16]}"
        meta: dict[str, Any] = {**(metadata or {}), "app": app, "source": "note"}
        await self.store.add(user_id, MEMORY, memory_id, text, meta)
        return memory_id

    async def memories(self, user_id: str) -> list[MemoryInfo]:
        """The user's memories (sessions and notes)."""
        return [
            MemoryInfo(
                memory_id=doc.document,
                chunks=doc.chunks,
                metadata=doc.metadata,
                added_at=doc.added_at,
            )
            for doc in await self.sessions(user_id)
        ]

    async def sessions(self, user_id: str) -> list[DocumentInfo]:
        """The user's remembered sessions."""
        await self._base(user_id)
        return await self.store.documents(user_id, MEMORY)

    async def forget(self, user_id: str, memory_id: str) -> int:
        """Delete one remembered session (`APP/SESSION_ID`); InvalidArgument if unknown."""
        await self._base(user_id)
        try:
            return await self.store.remove(user_id, MEMORY, memory_id)
        except InvalidArgument:
            raise InvalidArgument(
                "memory_id",
                f"{memory_id!r} is not among your memories (list them: 'agenthost memory ls' "
                f"or GET /v1/memory)",
            ) from None
