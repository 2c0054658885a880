"""A small in-process knowledge base: BM25 ranking over lower-cased words."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from agenthost.ports.knowledge import Chunk

_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class InMemoryKnowledgeBase:
    """Documents given as {id: text} or (id, text, metadata) triples; `filters` match metadata
    keys exactly."""

    def __init__(
        self,
        kb_id: str,
        documents: Mapping[str, str] | Iterable[tuple[str, str, dict[str, Any]]] = (),
        *,
        k1: float = 1.5,
        b: float = 0.75,
    ) -> None:
        self._id = kb_id
        self.k1, self.b = k1, b
        self._docs: dict[str, tuple[str, dict[str, Any], Counter[str], int]] = {}
        self._df: Counter[str] = Counter()
        items = (
            ((k, v, {}) for k, v in documents.items())
            if isinstance(documents, Mapping)
            else documents
        )
        for doc_id, text, metadata in items:
            self.add(doc_id, text, metadata)

    @property
    def id(self) -> str:
        return self._id

    def add(self, doc_id: str, text: str, metadata: dict[str, Any] | None = None) -> None:
        if doc_id in self._docs:
            self._df.subtract(set(self._docs[doc_id][2]))
        words = _words(text)
        counts = Counter(words)
        self._docs[doc_id] = (text, dict(metadata or {}), counts, len(words))
        self._df.update(set(counts))

    async def retrieve(
        self, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        terms = set(_words(query))
        n = len(self._docs)
        if not terms or not n:
            return []
        avg = sum(d[3] for d in self._docs.values()) / n
        scored: list[Chunk] = []
        for doc_id, (text, meta, counts, length) in self._docs.items():
            if filters and any(meta.get(k) != v for k, v in filters.items()):
                continue
            score = 0.0
            for term in terms:
                tf = counts.get(term, 0)
                if not tf:
                    continue
                idf = math.log(1 + (n - self._df[term] + 0.5) / (self._df[term] + 0.5))
                score += (
                    idf * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / avg))
                )
            if score > 0:
                scored.append(Chunk(id=doc_id, text=text, score=round(score, 6), metadata=meta))
        scored.sort(key=lambda c: c.score, reverse=True)
        return scored[:top_k]
