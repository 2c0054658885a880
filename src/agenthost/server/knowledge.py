"""Knowledge bases over HTTP, per user: `/v1/knowledge_bases`.

    GET    /v1/knowledge_bases                          your bases
    POST   /v1/knowledge_bases                          {name, description?, chunk_size?,
                                                          chunk_overlap?}
    GET    /v1/knowledge_bases/{name}                   a base and its documents
    DELETE /v1/knowledge_bases/{name}
    POST   /v1/knowledge_bases/{name}/documents         {documents: [{document, text | data_base64
                                                          | url, metadata?}]}: per-document results
    DELETE /v1/knowledge_bases/{name}/documents/{document}
    POST   /v1/knowledge_bases/{name}/search            {query, top_k?, filters?, mode?}
    GET    /v1/memory                                   your remembered sessions
    POST   /v1/memory                                   {agent, session_id}: remember it
    POST   /v1/memory/search                            {query, top_k?}
    DELETE /v1/memory/{id}                              forget one (id: APP/SESSION_ID)

Every base is its caller's: another user's base is 404 `knowledge_base_not_found`, as a base
that does not exist. The bases the config declares (its agents' shared ones) are not served
here: they are managed with `agenthost kb` on the host. The store is the config's knowledge
store, opened on first use (or the one an `on_startup` hook put in
`state.extras["knowledge_store"]`), and closed with the server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from starlette.responses import Response

from agenthost.core import serde
from agenthost.core.errors import DocumentError, InvalidArgument
from agenthost.server.state import ServerState, State, Who

KnowledgeBaseName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="A knowledge base.")
]
_KEY = "knowledge_store"
_LOCK = "knowledge_store_lock"

api = APIRouter(prefix="/v1/knowledge_bases", tags=["knowledge"])


class CreateKnowledgeBase(BaseModel):
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=2000)
    chunk_size: int = Field(default=800, ge=50, le=20_000)
    chunk_overlap: int = Field(default=100, ge=0, le=10_000)


class DocumentIn(BaseModel):
    document: str | None = Field(default=None, min_length=1, max_length=1000)
    text: str | None = None
    data_base64: str | None = None  # a file's bytes; its type from the document's suffix
    url: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AddDocuments(BaseModel):
    documents: list[DocumentIn] = Field(min_length=1, max_length=1000)


class SearchBody(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=5, ge=1, le=100)
    filters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    mode: Literal["hybrid", "text", "vector"] = "hybrid"


def _json(value: Any, status: int = 200) -> Response:
    return Response(serde.encode(value), status_code=status, media_type="application/json")


async def knowledge_store(state: ServerState) -> Any:
    """The server's knowledge store, opened once (and closed with the server)."""
    store = state.extras.get(_KEY)
    if store is not None:
        return store
    lock = state.extras.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        store = state.extras.get(_KEY)
        if store is None:
            from agenthost.config.knowledge import make_store
            from agenthost.config.paths import home_dir
            from agenthost.config.schema import AgentHostConfig

            made = make_store(state.config or AgentHostConfig(), home_dir())
            await made.open()

            async def close() -> None:
                state.extras.pop(_KEY, None)
                await made.aclose()

            state.closers.append(close)
            state.extras[_KEY] = store = made
    return store


@api.get("", summary="Your knowledge bases")
async def list_bases(who: Who, state: State) -> Response:
    store = await knowledge_store(state)
    return _json({"knowledge_bases": await store.bases(who.user_id)})


@api.post("", summary="Create a knowledge base", status_code=201)
async def create_base(who: Who, state: State, body: CreateKnowledgeBase) -> Response:
    store = await knowledge_store(state)
    info = await store.create(
        who.user_id,
        body.name,
        description=body.description,
        chunk_size=body.chunk_size,
        chunk_overlap=body.chunk_overlap,
    )
    return _json(info, status=201)


@api.get("/{name}", summary="A knowledge base and its documents")
async def get_base(who: Who, state: State, name: KnowledgeBaseName) -> Response:
    store = await knowledge_store(state)
    info = await store.get(who.user_id, name)
    documents = await store.documents(who.user_id, name)
    return _json({"knowledge_base": info, "documents": documents})


@api.delete("/{name}", summary="Delete a knowledge base", status_code=204)
async def delete_base(who: Who, state: State, name: KnowledgeBaseName) -> Response:
    store = await knowledge_store(state)
    await store.delete(who.user_id, name)
    return Response(status_code=204)


@api.post("/{name}/documents", summary="Add or replace documents")
async def add_documents(
    who: Who, state: State, name: KnowledgeBaseName, body: AddDocuments
) -> Response:
    """Each document is ingested on its own: one that cannot be read is reported in its
    result (`status: failed`, `error`) and the others are still added."""
    from agenthost.backends.knowledge._text import document_text

    store = await knowledge_store(state)
    await store.get(who.user_id, name)  # 404 before any work
    results: list[dict[str, Any]] = []
    for i, item in enumerate(body.documents):
        document = item.document or item.url or f"document-{i}"
        try:
            text = await _text_of(item, document, i, document_text)
            added = await store.add(who.user_id, name, document, text, item.metadata)
        except DocumentError as exc:
            results.append({"document": document, "status": "failed", "error": exc.reason})
            continue
        results.append({"document": document, "status": added.status, "chunks": added.chunks})
    failed = sum(1 for r in results if r["status"] == "failed")
    return _json({"results": results, "failed": failed})


async def _text_of(item: DocumentIn, document: str, i: int, document_text: Any) -> str:
    given = [k for k in ("text", "data_base64", "url") if getattr(item, k) is not None]
    if len(given) != 1:
        raise InvalidArgument(f"documents[{i}]", "give exactly one of text, data_base64 or url")
    if item.text is not None:
        if not item.text.strip():
            raise DocumentError(document, "the text is empty")
        return item.text
    if item.data_base64 is not None:
        try:
            data = base64.b64decode(item.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"documents[{i}].data_base64", "is not base64") from None
        suffix = "." + document.rsplit(".", 1)[-1] if "." in document else ""
        return str(document_text(document, data, suffix))
    from agenthost.config.knowledge import url_source

    assert item.url is not None
    return await url_source(item.url).load()


@api.delete("/{name}/documents/{document:path}", summary="Remove a document")
async def remove_document(
    who: Who, state: State, name: KnowledgeBaseName, document: str
) -> Response:
    store = await knowledge_store(state)
    removed = await store.remove(who.user_id, name, document)
    return _json({"document": document, "chunks_removed": removed})


@api.post("/{name}/search", summary="Hybrid search of a knowledge base")
async def search_base(
    who: Who, state: State, name: KnowledgeBaseName, body: SearchBody
) -> Response:
    store = await knowledge_store(state)
    chunks = await store.search(
        who.user_id, name, body.query, top_k=body.top_k, filters=body.filters, mode=body.mode
    )
    return _json({"chunks": chunks})


# ---- long-term memory: the caller's remembered sessions ----------------------------------

memory_api = APIRouter(prefix="/v1/memory", tags=["memory"])


class RememberSession(BaseModel):
    agent: str = Field(max_length=200)
    session_id: str = Field(max_length=200)


class MemorySearch(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=3, ge=1, le=50)


async def _memory(state: ServerState) -> Any:
    from agenthost.backends.knowledge.memory_store import KnowledgeMemory

    return KnowledgeMemory(await knowledge_store(state))


@memory_api.get("", summary="Your remembered sessions")
async def list_memories(who: Who, state: State) -> Response:
    memory = await _memory(state)
    docs = await memory.sessions(who.user_id)
    return _json({"memories": [{"id": d.document, **serde.to_builtins(d)} for d in docs]})


@memory_api.post("", summary="Remember one of your sessions", status_code=201)
async def remember(who: Who, state: State, body: RememberSession) -> Response:
    from agenthost.engine.retrieval import session_transcript

    runner = state.runner(body.agent)
    session = await runner.get_session(who.user_id, body.session_id)  # yours, or 404
    memory = await _memory(state)
    chunks = await memory.add_session(
        who.user_id,
        app=runner.app,
        session_id=body.session_id,
        transcript=session_transcript(session.events),
    )
    return _json({"id": f"{runner.app}/{body.session_id}", "chunks": chunks}, status=201)


@memory_api.post("/search", summary="Search your memory")
async def search_memory(who: Who, state: State, body: MemorySearch) -> Response:
    memory = await _memory(state)
    return _json({"chunks": await memory.search(who.user_id, body.query, top_k=body.top_k)})


@memory_api.delete("/{memory_id:path}", summary="Forget a remembered session")
async def forget(who: Who, state: State, memory_id: str) -> Response:
    memory = await _memory(state)
    removed = await memory.forget(who.user_id, memory_id)
    return _json({"id": memory_id, "chunks_removed": removed})


def router(state: ServerState) -> APIRouter:
    both = APIRouter()
    both.include_router(api)
    both.include_router(memory_api)
    return both
