"""Embedding and rerank endpoints over real HTTP on 127.0.0.1, in the OpenAI `/embeddings`
and Cohere/Jina/vLLM `/rerank` formats; URL documents through the web fetcher."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge._embed import HttpEmbedder
from agenthost.backends.knowledge._rerank import HttpReranker
from agenthost.backends.knowledge.ingest import ingest
from agenthost.config.knowledge import sources
from agenthost.core.errors import KnowledgeUnavailable

DIM = 32


def _vector(text: str) -> list[float]:
    """A bag of hashed words: texts sharing words point the same way."""
    out = [0.0] * DIM
    for word in re.findall(r"\w+", text.lower()):
        out[hashlib.sha256(word.encode()).digest()[0] % DIM] += 1.0
    return out


class Endpoint:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("embeddings", body))
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(t)}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # the index, not the order, says which input a vector belongs to
        return web.json_response({"object": "list", "data": data, "model": body["model"]})

    async def rerank(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("rerank", body))
        words = set(re.findall(r"\w+", body["query"].lower()))
        scored = [
            {"index": i, "relevance_score": len(words & set(re.findall(r"\w+", d.lower())))}
            for i, d in enumerate(body["documents"])
        ]
        scored.sort(key=lambda r: -r["relevance_score"])
        return web.json_response({"id": "r1", "results": scored[: body["top_n"]]})

    async def broken(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="model crashed")

    async def page(self, request: web.Request) -> web.Response:
        html = "<html><body><nav>menu</nav><p>Refunds are paid within five days.</p></body></html>"
        return web.Response(text=html, content_type="text/html")


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint()
    app = web.Application()
    app.router.add_post("/v1/embeddings", ep.embeddings)
    app.router.add_post("/v1/rerank", ep.rerank)
    app.router.add_post("/broken/embeddings", ep.broken)
    app.router.add_post("/broken/rerank", ep.broken)
    app.router.add_get("/faq.html", ep.page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ep.url = f"http://127.0.0.1:{port}"
    try:
        yield ep
    finally:
        await runner.cleanup()


async def test_openai_compatible_embeddings_fill_and_search(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    embedder = HttpEmbedder("lab", "emb-1", base_url=f"{endpoint.url}/v1", api_key="k")
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db", embedder) as store:
        await store.create("u", "kb")
        await store.add("u", "kb", "a.md", "apples and pears grow on trees")
        await store.add("u", "kb", "b.md", "trains leave the station every hour")
        found = await store.search("u", "kb", "when do trains leave", mode="vector", top_k=1)
        assert found[0].document == "b.md"
        assert (await store.get("u", "kb")).embedder == "lab:emb-1"
    kinds = [kind for kind, _ in endpoint.requests]
    assert kinds == ["embeddings"] * 3
    assert endpoint.requests[0][1] == {
        "model": "emb-1",
        "input": ["apples and pears grow on trees"],
    }


async def test_an_embedding_endpoint_error_is_knowledge_unavailable(endpoint: Endpoint) -> None:
    embedder = HttpEmbedder("lab", "emb-1", base_url=f"{endpoint.url}/broken")
    with pytest.raises(KnowledgeUnavailable, match="HTTP 500: model crashed") as info:
        await embedder.embed(["x"])
    assert info.value.code == "knowledge_unavailable" and info.value.retryable
    await embedder.aclose()


async def test_rerank_endpoint_format(endpoint: Endpoint) -> None:
    reranker = HttpReranker("jina", "rr-1", base_url=f"{endpoint.url}/v1")
    docs = ["the cat sat", "dogs bark at night", "a cat and a dog"]
    order = await reranker.rerank("cat dog", docs, top_k=2)
    assert [i for i, _ in order] == [2, 0]
    assert endpoint.requests[-1] == (
        "rerank",
        {"model": "rr-1", "query": "cat dog", "documents": docs, "top_n": 2},
    )
    broken = HttpReranker("jina", "rr-1", base_url=f"{endpoint.url}/broken")
    with pytest.raises(KnowledgeUnavailable, match="rerank endpoint"):
        await broken.rerank("q", ["d"], top_k=1)
    await reranker.aclose()
    await broken.aclose()


async def test_url_documents_are_fetched_with_the_web_policy(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{endpoint.url}/faq.html"
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as store:
        await store.create("u", "kb")
        # the fetcher refuses private addresses unless allowed: a per-document failure
        report = await ingest(store, "u", "kb", sources([url]))
        assert report.added == 0 and "refused" in report.failed[0][1]
        monkeypatch.setenv("AGENTHOST_WEB_ALLOW_PRIVATE", "1")
        report = await ingest(store, "u", "kb", sources([url]))
        assert report.added == 1 and not report.failed
        [chunk] = await store.search("u", "kb", "when are refunds paid", top_k=1)
        assert chunk.document == url and "five days" in chunk.text and "menu" not in chunk.text
