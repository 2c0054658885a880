from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from agenthost.backends.knowledge import InMemoryKnowledgeBase
from agenthost.core.messages import Message
from agenthost.engine.runner import Runner, collect
from agenthost.ports.protocol import (
    HostAPI,
    KnowledgeResource,
    Manifest,
    MessageCompleted,
    Resources,
    ResultBatch,
    RunContext,
)
from agenthost.ports.sessions import SessionStore

DOCS = {
    "refunds": "Refunds are paid within 14 days to the original card.",
    "shipping": "Shipping to Norway takes 3 days; express shipping takes 1 day.",
    "hours": "The shop is open from 9 to 17 on weekdays.",
}


async def test_bm25_ranks_the_matching_document_first() -> None:
    kb = InMemoryKnowledgeBase("faq", DOCS)
    hits = await kb.retrieve("how long does shipping take", top_k=2)
    assert hits[0].id == "shipping"
    assert await kb.retrieve("zebra") == []


async def test_filters_match_metadata() -> None:
    kb = InMemoryKnowledgeBase(
        "kb", [("a", "red apple", {"lang": "en"}), ("b", "red apple", {"lang": "fr"})]
    )
    hits = await kb.retrieve("apple", filters={"lang": "fr"})
    assert [h.id for h in hits] == ["b"]


class KbAgent:
    found: ClassVar[list[str]] = []

    @property
    def manifest(self) -> Manifest:
        return Manifest(id="t/kb", name="kb")

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        chunks = await host.retrieve("faq", ctx.input.text, top_k=1)
        KbAgent.found = [c.id for c in chunks]
        yield MessageCompleted(message=Message.assistant(chunks[0].text))


async def test_agent_retrieves_through_the_host(store: SessionStore) -> None:
    kb = InMemoryKnowledgeBase("faq", DOCS)
    resources: Any = Resources(knowledge_bases=[KnowledgeResource(kb_id="faq")])
    runner = Runner(KbAgent(), store=store, knowledge=[kb], resources=resources)
    events = await collect(runner.run("u", "s", "refunds please"))
    assert KbAgent.found == ["refunds"]
    assert events[-1].type == "run.completed"
