"""`host.memory` in process: a runner grants it with the agent's own memory store (an
LLMAgent with `memory`), and the notes an agent adds are its run's user's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge.memory_store import KnowledgeMemory
from agenthost.backends.sessions import MemorySessionStore
from agenthost.core.errors import HostAPIError
from agenthost.core.session import SessionKey
from agenthost.engine.active import ActiveRun, Grants
from agenthost.engine.history import HistoryCache
from agenthost.engine.host import run_host
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.retrieval import MemoryUse
from agenthost.engine.runner import Runner
from agenthost.ports.protocol import MemoryResource, Resources
from agenthost.testing.scripted import ScriptedModel


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[KnowledgeMemory]:
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as store:
        yield KnowledgeMemory(store)


async def test_an_llm_agents_memory_store_is_granted_to_its_runs(memory: KnowledgeMemory) -> None:
    agent = LLMAgent(model=ScriptedModel(["ok"]), memory=MemoryUse(memory=memory))
    runner = Runner(agent, store=MemorySessionStore(), app="t")
    assert runner.memory is memory and runner.resources.memory is not None
    bare = Runner(LLMAgent(model=ScriptedModel(["ok"])), store=MemorySessionStore(), app="t")
    assert bare.memory is None and bare.resources.memory is None


async def test_a_finished_run_can_no_longer_reach_memory(memory: KnowledgeMemory) -> None:
    session = await MemorySessionStore().create(SessionKey(app="t", user_id="ann", session_id="s"))
    run = ActiveRun(
        run_id="r1",
        session=session,
        grants=Grants.from_resources(Resources(memory=MemoryResource(max_chars=5))),
        catalog=Runner(LLMAgent(model=ScriptedModel([])), store=MemorySessionStore()).catalog,
        history=HistoryCache(),
        kv=None,
        deadline_at=None,
        key=session.key,
        memory=memory,
    )
    host = run_host(run)
    assert host.memory is not None
    memory_id = await host.memory.add("tea")
    assert [m.memory_id for m in await memory.memories("ann")] == [memory_id]
    with pytest.raises(HostAPIError) as too_long:
        await host.memory.add("much too long")
    assert too_long.value.code == "payload_too_large"
    run.finished = True
    with pytest.raises(HostAPIError) as over:
        await host.memory.search("tea")
    assert over.value.code == "unauthorized"
