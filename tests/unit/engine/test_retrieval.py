"""LLMAgent with knowledge bases: context before each turn, the search tool, citations in the
events, and what an embedding or rerank endpoint that is down does (fallback or fail)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge._embed import HttpEmbedder, StaticEmbedder
from agenthost.backends.knowledge._rerank import EmbeddedReranker, HttpReranker
from agenthost.backends.knowledge.store import KnowledgeStore
from agenthost.core.events import Event
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.retrieval import TOOL_NAME, Retrieval
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.testing.scripted import ScriptedModel, tool_call

HANDBOOK = {
    "returns.md": "Bikes can be returned within 30 days of purchase with the receipt.",
    "hours.md": "The shop opens at 9:00 on weekdays and 10:00 on Saturdays; Sundays closed.",
    "repairs.md": "A basic service costs 45 euros and takes one working day.",
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed


async def _fill(store: KnowledgeStore) -> None:
    await store.create("", "handbook", chunk_size=300, chunk_overlap=0)
    for name, text in HANDBOOK.items():
        await store.add("", "handbook", name, text)


@pytest.fixture
async def kb_store(tmp_path: Path) -> AsyncIterator[KnowledgeStore]:
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as store:
        await _fill(store)
        yield store


def _of(events: Sequence[Event], kind: str) -> list[Event]:
    return [e for e in events if e.type == kind]


async def test_context_mode_adds_excerpts_and_cites_them(
    kb_store: KnowledgeStore, store: object
) -> None:
    model = ScriptedModel(["Within 30 days."])
    agent = LLMAgent(
        model=model,
        instructions="Answer from the handbook.",
        retrieval=Retrieval(bases=[kb_store.base("", "handbook")], top_k=2),
    )
    runner = Runner(agent, store=store, app="t")  # type: ignore[arg-type]
    events = await collect(runner.run("u", "s", "How long do I have to return a bike?"))
    assert final_text(events) == "Within 30 days."
    [found] = _of(events, "knowledge.retrieved")
    assert found.data is not None and found.data["mode"] == "context"
    first = found.data["citations"][0]
    assert (first["kb"], first["document"], first["chunk"]) == ("handbook", "returns.md", 0)
    system = model.calls[0][0]
    assert system.role == "system" and system.text.startswith("Answer from the handbook.")
    assert "[1] returns.md (chunk 0):" in system.text and "30 days" in system.text
    # the excerpts are not stored in the session: the next turn retrieves afresh
    session = await runner.get_session("u", "s")
    assert "knowledge.retrieved" in [e.type for e in session.events]
    assert all("30 days of purchase" not in (e.text or "") for e in session.events)


async def test_tool_mode_the_model_searches(kb_store: KnowledgeStore, store: object) -> None:
    model = ScriptedModel([tool_call(TOOL_NAME, '{"query": "service price"}'), "45 euros."])
    agent = LLMAgent(
        model=model,
        retrieval=Retrieval(bases=[kb_store.base("", "handbook")], mode="tool", top_k=1),
    )
    assert TOOL_NAME in [s.name for s in agent._tool_specs]
    runner = Runner(agent, store=store, app="t")  # type: ignore[arg-type]
    events = await collect(runner.run("u", "s", "What does a service cost?"))
    assert final_text(events) == "45 euros."
    [result] = _of(events, "tool.call.completed")
    assert "repairs.md (chunk 0)" in result.text and "45 euros" in result.text
    [found] = _of(events, "knowledge.retrieved")
    assert found.data is not None and found.data["mode"] == "tool"
    assert found.data["citations"][0]["document"] == "repairs.md"


async def _down_store(tmp_path: Path) -> KnowledgeStore:
    """A store filled with the embedded model, searched through an embedding endpoint
    that is down (same name, so the base accepts it)."""
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as filled:
        await _fill(filled)
    down = HttpEmbedder("down", "m", base_url=f"http://127.0.0.1:{closed_port()}/v1")
    down.name = StaticEmbedder.name
    return open_knowledge_store(f"sqlite:///{tmp_path}/kb.db", down)


async def test_embedding_down_falls_back_to_full_text_with_a_notice(
    tmp_path: Path, store: object
) -> None:
    async with await _down_store(tmp_path) as kb:
        model = ScriptedModel(["The shop opens at 10:00 on Saturdays."])
        agent = LLMAgent(model=model, retrieval=Retrieval(bases=[kb.base("", "handbook")], top_k=1))
        runner = Runner(agent, store=store, app="t")  # type: ignore[arg-type]
        events = await collect(runner.run("u", "s", "When does the shop open on Saturdays?"))
    assert events[-1].type == "run.completed"
    [found] = _of(events, "knowledge.retrieved")
    assert found.data is not None
    assert "embedding endpoint" in found.data["notice"]
    assert "full-text search alone" in found.data["notice"]
    assert found.data["citations"][0]["document"] == "hours.md"


async def test_embedding_down_fails_the_run_when_asked(tmp_path: Path, store: object) -> None:
    async with await _down_store(tmp_path) as kb:
        agent = LLMAgent(
            model=ScriptedModel([]),
            retrieval=Retrieval(bases=[kb.base("", "handbook")], on_error="fail"),
        )
        runner = Runner(agent, store=store, app="t")  # type: ignore[arg-type]
        events = await collect(runner.run("u", "s", "When does the shop open?"))
    assert events[-1].type == "run.failed"
    assert events[-1].error is not None and events[-1].error.code == "knowledge_unavailable"
    assert "embedding endpoint" in events[-1].error.message


async def test_rerank_down_keeps_the_fused_order(kb_store: KnowledgeStore, store: object) -> None:
    reranker = HttpReranker("down", "r", base_url=f"http://127.0.0.1:{closed_port()}/v1")
    agent = LLMAgent(
        model=ScriptedModel(["ok"]),
        retrieval=Retrieval(
            bases=[kb_store.base("", "handbook")], top_k=3, reranker=reranker, rerank_top_k=1
        ),
    )
    runner = Runner(agent, store=store, app="t")  # type: ignore[arg-type]
    events = await collect(runner.run("u", "s", "return a bike"))
    [found] = _of(events, "knowledge.retrieved")
    assert found.data is not None and "rerank endpoint" in found.data["notice"]
    assert len(found.data["citations"]) == 1
    failing = LLMAgent(
        model=ScriptedModel([]),
        retrieval=Retrieval(
            bases=[kb_store.base("", "handbook")], reranker=reranker, on_error="fail"
        ),
    )
    events = await collect(Runner(failing, store=store, app="t").run("u", "s2", "x"))  # type: ignore[arg-type]
    assert events[-1].error is not None and events[-1].error.code == "knowledge_unavailable"
    await reranker.aclose()


async def test_embedded_reranker_prefers_the_sentence_that_answers() -> None:
    reranker = EmbeddedReranker(StaticEmbedder())
    docs = [
        "The shop sells helmets. It also sells locks and lights.",
        "Opening hours: the shop opens at 9:00 on weekdays.",
    ]
    order = await reranker.rerank("when does the shop open", docs, top_k=2)
    assert [i for i, _ in order] == [1, 0]
