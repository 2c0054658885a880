"""Retrieval for LLMAgent: knowledge bases searched through the host API, by option either
before each turn (`context`: the excerpts join the system prompt) or when the model calls the
`search_knowledge` tool (`tool`).

One search: each base returns its best `top_k` chunks (hybrid search in stored bases); the
candidates of all bases are pooled by score, then the reranker, if any, keeps the best
`rerank_top_k`. Every search yields a `knowledge.retrieved` result citing (kb, document, chunk).

An endpoint that fails (KnowledgeUnavailable): with `on_error="fallback"` the search goes on
with what is left -- a base's full-text results without vectors, the fused order without the
reranker -- and the result's `notice` says so; with `on_error="fail"` the run fails with
`knowledge_unavailable`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agenthost.core.errors import ConfigError, KnowledgeUnavailable
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.ports.knowledge import Chunk, KnowledgeBase, LongTermMemory, Reranker
from agenthost.ports.models import ToolSpec
from agenthost.ports.protocol import HostAPI, KnowledgeRetrieved

RetrievalMode = Literal["context", "tool"]
OnRetrievalError = Literal["fallback", "fail"]
TOOL_NAME = "search_knowledge"
MEMORY_TOOL = "load_memory"
MEMORY_HEADER = (
    "Notes from earlier conversations with this user that may help. Use them when they are "
    "relevant."
)
CONTEXT_HEADER = (
    "Excerpts from the knowledge base that may answer the user's question. Answer from them "
    "when they are relevant, and say which document you used."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retrieval:
    bases: Sequence[KnowledgeBase]
    mode: RetrievalMode = "context"
    top_k: int = 5
    reranker: Reranker | None = None
    rerank_top_k: int | None = None
    on_error: OnRetrievalError = "fallback"
    max_chars: int = 4000  # of the excerpts added as context (the rest of the chunks dropped)
    # run by the agent's __aenter__ / aclose: open the store and ingest declared sources, close
    prepare: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    _state: dict[str, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.bases:
            raise ConfigError("Retrieval needs at least one knowledge base.")
        if self.mode not in ("context", "tool"):
            raise ConfigError(f"retrieval mode must be 'context' or 'tool', not {self.mode!r}")
        if self.top_k < 1 or (self.rerank_top_k is not None and self.rerank_top_k < 1):
            raise ConfigError("retrieval_top_k and rerank_top_k must be >= 1")

    async def open(self) -> None:
        if self.prepare is not None and not self._state.get("open"):
            await self.prepare()
        self._state["open"] = True

    async def aclose(self) -> None:
        if self._state.pop("open", False) and self.close is not None:
            await self.close()

    def tool_spec(self) -> ToolSpec:
        names = ", ".join(kb.id for kb in self.bases)
        return ToolSpec(
            name=TOOL_NAME,
            description=f"Search the knowledge base ({names}) for passages about a question. "
            f"Returns excerpts with the document each comes from.\n\nExamples:\n"
            'What is the refund policy? -> {"query": "refund policy"}\n'
            'When are you open on Saturday? -> {"query": "opening hours Saturday"}\n'
            'How much does the premium plan cost? -> {"query": "premium plan price"}',
            parameters={
                "type": "object",
                "properties": {"query": {"type": "string", "description": "what to look for"}},
                "required": ["query"],
            },
        )

    async def search(self, host: HostAPI, query: str) -> tuple[list[Chunk], KnowledgeRetrieved]:
        notices: list[str] = []
        pooled: list[Chunk] = []
        for kb in self.bases:
            try:
                found = await host.knowledge.retrieve(kb.id, query, top_k=self.top_k)
            except KnowledgeUnavailable as exc:
                if self.on_error == "fail" or exc.fallback is None:
                    raise
                found = list(exc.fallback)
                notices.append(f"{kb.id}: {exc.message} Used full-text search alone.")
            pooled.extend(found)
        pooled.sort(key=lambda c: c.score, reverse=True)
        chunks = pooled[: self.top_k]
        keep = self.rerank_top_k or self.top_k
        if self.reranker is not None and chunks:
            try:
                order = await self.reranker.rerank(query, [c.text for c in chunks], top_k=keep)
                chunks = [_rescored(chunks[i], score) for i, score in order]
            except KnowledgeUnavailable as exc:
                if self.on_error == "fail":
                    raise
                notices.append(f"{exc.message} Kept the search order without reranking.")
                chunks = chunks[:keep]
        else:
            chunks = chunks[:keep]
        event = KnowledgeRetrieved(
            query=query,
            mode=self.mode,
            citations=[citation(c) for c in chunks],
            notice=" ".join(notices) or None,
        )
        return chunks, event

    def context(self, chunks: Sequence[Chunk]) -> str:
        """The excerpts as text for the system prompt ('' when there are none)."""
        return format_chunks(chunks, header=CONTEXT_HEADER, max_chars=self.max_chars)


def _rescored(chunk: Chunk, score: float) -> Chunk:
    return Chunk(
        id=chunk.id,
        text=chunk.text,
        score=round(score, 6),
        metadata=chunk.metadata,
        document=chunk.document,
        index=chunk.index,
    )


def citation(chunk: Chunk) -> dict[str, Any]:
    return {
        "kb": chunk.metadata.get("kb"),
        "document": chunk.document if chunk.document is not None else chunk.id,
        "chunk": chunk.index,
        "id": chunk.id,
        "score": chunk.score,
    }


def format_chunks(chunks: Sequence[Chunk], *, header: str = "", max_chars: int = 4000) -> str:
    """Numbered excerpts, each with its source, within `max_chars`."""
    if not chunks:
        return ""
    parts = [header] if header else []
    used = 0
    for n, chunk in enumerate(chunks, 1):
        source = chunk.document or chunk.id
        where = f"{source} (chunk {chunk.index})" if chunk.index is not None else source
        block = f"[{n}] {where}:\n{chunk.text.strip()}"
        if used and used + len(block) > max_chars:
            break
        parts.append(block[:max_chars])
        used += len(block)
    return "\n\n".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryUse:
    """How an agent uses the user's long-term memory: `context` adds the best `top_k`
    memories to the system prompt before each turn; `tool` gives the model `load_memory`;
    `auto_add` remembers the session after each completed run. The user is always the run's
    user. A search whose embedding endpoint is down falls back or fails as `on_error` says;
    remembering that fails is logged and the run still completes."""

    memory: LongTermMemory
    context: bool = True
    tool: bool = False
    auto_add: bool = True
    top_k: int = 3
    on_error: OnRetrievalError = "fallback"
    prepare: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    _state: dict[str, bool] = field(default_factory=dict, repr=False)

    async def open(self) -> None:
        if self.prepare is not None and not self._state.get("open"):
            await self.prepare()
        self._state["open"] = True

    async def aclose(self) -> None:
        if self._state.pop("open", False) and self.close is not None:
            await self.close()

    def tool_spec(self) -> ToolSpec:
        return ToolSpec(
            name=MEMORY_TOOL,
            description="Recall earlier conversations with this user: returns notes from past "
            "sessions about a topic.",
            parameters={
                "type": "object",
                "properties": {"query": {"type": "string", "description": "what to recall"}},
                "required": ["query"],
            },
        )

    async def search(
        self, user_id: str, query: str, mode: str, *, session_id: str = ""
    ) -> tuple[list[Chunk], KnowledgeRetrieved]:
        """The user's best memories, those of the session `session_id` (already in the
        history) left out."""
        notice = None
        wanted = self.top_k + (3 if session_id else 0)
        try:
            chunks = await self.memory.search(user_id, query, top_k=wanted)
        except KnowledgeUnavailable as exc:
            if self.on_error == "fail" or exc.fallback is None:
                raise
            chunks = list(exc.fallback)
            notice = f"memory: {exc.message} Used full-text search alone."
        if session_id:
            chunks = [c for c in chunks if c.metadata.get("session_id") != session_id]
        chunks = chunks[: self.top_k]
        event = KnowledgeRetrieved(
            query=query, mode=mode, citations=[citation(c) for c in chunks], notice=notice
        )
        return chunks, event

    def context_text(self, chunks: Sequence[Chunk]) -> str:
        return format_chunks(chunks, header=MEMORY_HEADER)


def transcript(messages: Sequence[Message]) -> str:
    """`role: text` paragraphs of the user and assistant messages that have text."""
    lines = [
        f"{m.role}: {m.text.strip()}"
        for m in messages
        if m.role in ("user", "assistant") and m.text.strip()
    ]
    return "\n\n".join(lines)


def session_transcript(events: Sequence[Event]) -> str:
    """The transcript of a stored session: its users' messages and the agents' replies."""
    kinds = ("message.received", "message.completed")
    return transcript([e.message for e in events if e.type in kinds and e.message is not None])


__all__ = [
    "MEMORY_TOOL",
    "TOOL_NAME",
    "MemoryUse",
    "Retrieval",
    "citation",
    "format_chunks",
    "session_transcript",
    "transcript",
]
