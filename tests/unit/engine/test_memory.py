"""Long-term memory: sessions remembered per user, recalled before a turn or by the
load_memory tool, never across users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge.memory_store import KnowledgeMemory
from agenthost.backends.knowledge.store import KnowledgeStore
from agenthost.core.errors import InvalidArgument
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.retrieval import MEMORY_TOOL, MemoryUse
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel, tool_call


@pytest.fixture
async def kstore(tmp_path: Path) -> AsyncIterator[KnowledgeStore]:
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as opened:
        yield opened


def _runner(
    model: ScriptedModel, memory: KnowledgeMemory, store: SessionStore, **kw: object
) -> Runner:
    agent = LLMAgent(model=model, instructions="Be brief.", memory=MemoryUse(memory=memory, **kw))  # type: ignore[arg-type]
    return Runner(agent, store=store, app="t")


async def test_a_session_is_remembered_and_recalled_in_another(
    kstore: KnowledgeStore, store: SessionStore
) -> None:
    memory = KnowledgeMemory(kstore)
    model = ScriptedModel(["Noted: a red Brompton.", "It is red.", "I don't know."])
    runner = _runner(model, memory, store)
    await collect(runner.run("alice", "s1", "My bike is a red Brompton folding bike."))
    [remembered] = await memory.sessions("alice")
    assert remembered.document == "t/s1" and remembered.metadata["session_id"] == "s1"

    events = await collect(runner.run("alice", "s2", "What colour is my folding bike?"))
    assert final_text(events) == "It is red."
    recalled = next(e for e in events if e.type == "knowledge.retrieved")
    assert recalled.data is not None and recalled.data["mode"] == "memory"
    assert recalled.data["citations"][0]["document"] == "t/s1"
    system = model.calls[1][0].text
    assert "Be brief." in system and "user: My bike is a red Brompton folding bike." in system

    # bob asks the same: alice's memory is not his
    events = await collect(runner.run("bob", "s3", "What colour is my folding bike?"))
    recalled = next(e for e in events if e.type == "knowledge.retrieved")
    assert recalled.data is not None and recalled.data["citations"] == []
    assert "Brompton" not in model.calls[2][0].text
    assert [d.document for d in await memory.sessions("bob")] == ["t/s3"]


async def test_the_current_session_is_not_recalled_as_a_memory(
    kstore: KnowledgeStore, store: SessionStore
) -> None:
    memory = KnowledgeMemory(kstore)
    runner = _runner(ScriptedModel(["ok", "ok"]), memory, store)
    await collect(runner.run("alice", "s1", "My locker code is 4711."))
    events = await collect(runner.run("alice", "s1", "What is my locker code?"))
    recalled = next(e for e in events if e.type == "knowledge.retrieved")
    assert recalled.data is not None and recalled.data["citations"] == []  # it is in history


async def test_load_memory_tool(kstore: KnowledgeStore, store: SessionStore) -> None:
    memory = KnowledgeMemory(kstore)
    await memory.add_session(
        "alice", app="t", session_id="old", transcript="user: I am allergic to peanuts."
    )
    model = ScriptedModel([tool_call(MEMORY_TOOL, '{"query": "allergies"}'), "Peanuts."])
    runner = _runner(model, memory, store, context=False, tool=True, auto_add=False)
    events = await collect(runner.run("alice", "s9", "Do I have any allergies?"))
    assert final_text(events) == "Peanuts."
    result = next(e for e in events if e.type == "tool.call.completed")
    assert "allergic to peanuts" in result.text and "t/old" in result.text
    assert [d.document for d in await memory.sessions("alice")] == ["t/old"]  # no auto-add


async def test_memories_are_listed_and_deleted_by_their_owner(kstore: KnowledgeStore) -> None:
    memory = KnowledgeMemory(kstore)
    await memory.add_session("alice", app="t", session_id="a", transcript="user: hello there")
    with pytest.raises(InvalidArgument, match="not among your memories"):
        await memory.forget("bob", "t/a")
    assert await memory.forget("alice", "t/a") == 1
    assert await memory.sessions("alice") == []
    assert await kstore.bases("alice") == []  # the memory base is not a knowledge base
    with pytest.raises(InvalidArgument, match="user"):
        await memory.search("", "x")
