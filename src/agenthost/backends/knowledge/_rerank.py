"""Rerankers: a second, finer look at the fused candidates.

`HttpReranker` speaks the rerank format Cohere (`/v2/rerank`), Jina (`/v1/rerank`) and vLLM
(`/v1/rerank`, `/rerank`) share: `POST {base_url}/rerank` with `{model, query, documents,
top_n}`, answered by `{results: [{index, relevance_score}]}`.

`EmbeddedReranker` (the default, `local`) needs no endpoint: a candidate's score is its best
sentence's similarity to the query (static embeddings, so a sentence that matches is not
averaged away by the rest of its chunk) plus the share of the query's words it contains.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agenthost.backends.knowledge._text import content_words
from agenthost.core.errors import KnowledgeUnavailable

if TYPE_CHECKING:
    import aiohttp

    from agenthost.backends.knowledge._embed import StaticEmbedder

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


class EmbeddedReranker:
    name = "local"

    def __init__(self, embedder: StaticEmbedder, *, word_weight: float = 0.5) -> None:
        self._embedder = embedder
        self.word_weight = word_weight

    async def rerank(
        self, query: str, documents: Sequence[str], *, top_k: int
    ) -> list[tuple[int, float]]:
        return await asyncio.to_thread(self._score, query, documents, top_k)

    def _score(self, query: str, documents: Sequence[str], top_k: int) -> list[tuple[int, float]]:
        import numpy as np

        if not documents:
            return []
        sentences: list[str] = []
        owner: list[int] = []
        for i, doc in enumerate(documents):
            parts = [s for s in _SENTENCE.split(doc) if s.strip()] or [doc]
            sentences.extend(parts)
            owner.extend([i] * len(parts))
        vectors = self._embedder.embed_sync([query, *sentences])
        sims = np.einsum("ij,j->i", vectors[1:], vectors[0])
        best = np.full(len(documents), -1.0, dtype=np.float32)
        np.maximum.at(best, np.asarray(owner), sims)
        terms = content_words(query)
        scores = []
        for i, doc in enumerate(documents):
            share = len(terms & content_words(doc)) / len(terms) if terms else 0.0
            scores.append((i, round(float(best[i]) + self.word_weight * share, 6)))
        scores.sort(key=lambda item: item[1], reverse=True)
        return scores[:top_k]


class HttpReranker:
    """A rerank endpoint in the Cohere / Jina / vLLM format."""

    def __init__(
        self,
        provider: str,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        client: aiohttp.ClientSession | None = None,
    ) -> None:
        self.name = f"{provider}:{model}"
        self.model = model
        self.url = base_url.rstrip("/") + "/rerank"
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"HttpReranker(name={self.name!r}, url={self.url!r})"

    async def rerank(
        self, query: str, documents: Sequence[str], *, top_k: int
    ) -> list[tuple[int, float]]:
        import aiohttp
        import orjson

        from agenthost.backends.common.http import make_http_client

        if not documents:
            return []
        if self._client is None:
            self._client = make_http_client(max_connections=16, connect_timeout=self.timeout)
        body = {"model": self.model, "query": query, "documents": list(documents), "top_n": top_k}
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(
                    self.url, data=orjson.dumps(body), headers=self._headers
                )
                async with response:
                    payload = await response.read()
                    if response.status >= 400:
                        reason = f"HTTP {response.status}: {payload[:300].decode(errors='replace')}"
                        raise KnowledgeUnavailable("rerank", self.url, reason)
            results = orjson.loads(payload)["results"]
            ranked = [(int(r["index"]), float(r["relevance_score"])) for r in results]
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise KnowledgeUnavailable("rerank", self.url, reason) from exc
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            reason = f"an answer without results[].index/relevance_score ({type(exc).__name__})"
            raise KnowledgeUnavailable("rerank", self.url, reason) from exc
        ranked = [(i, s) for i, s in ranked if 0 <= i < len(documents)]
        ranked.sort(key=lambda item: item[1], reverse=True)
        return ranked[:top_k]

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None
