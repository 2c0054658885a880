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

from agenthost.backends.knowledge._endpoint import JsonEndpoint
from agenthost.backends.knowledge._text import content_words

if TYPE_CHECKING:
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


class HttpReranker(JsonEndpoint):
    """A rerank endpoint in the Cohere / Jina / vLLM format."""

    what = "rerank"
    path = "/rerank"

    async def rerank(
        self, query: str, documents: Sequence[str], *, top_k: int
    ) -> list[tuple[int, float]]:
        import orjson

        if not documents:
            return []
        body = {"model": self.model, "query": query, "documents": list(documents), "top_n": top_k}
        payload = await self._post(body)
        try:
            results = orjson.loads(payload)["results"]
            ranked = [(int(r["index"]), float(r["relevance_score"])) for r in results]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise self._bad_answer("results[].index/relevance_score", exc) from exc
        ranked = [(i, s) for i, s in ranked if 0 <= i < len(documents)]
        ranked.sort(key=lambda item: item[1], reverse=True)
        return ranked[:top_k]
