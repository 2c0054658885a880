"""`host.memory` from a plugin agent in a real subprocess: it adds, searches, lists and
deletes the long-term memories of its run's user over JSON-RPC, never another user's, with
the same authorization as an in-process agent (the manifest must declare `memory`, the run
must be granted it: a runner with a memory store grants it)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge.memory_store import KnowledgeMemory
from agenthost.backends.plugins import PluginAgent
from agenthost.backends.sessions import MemorySessionStore
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.protocol import MemoryResource, Permissions, Resources

pytestmark = pytest.mark.integration

MEMO = Path(__file__).with_name("plugins") / "memory_plugin.py"
COMMAND = [sys.executable, str(MEMO)]
ALLOWED = Permissions(memory=True)


async def ask(runner: Runner, user: str, text: str, session: str = "s") -> dict[str, Any]:
    events = await asyncio.wait_for(collect(runner.run(user, session, text)), 30)
    assert events[-1].type == "run.completed", events[-1]
    answer: dict[str, Any] = orjson.loads(final_text(events))
    return answer


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[KnowledgeMemory]:
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as store:
        yield KnowledgeMemory(store)


async def test_a_plugin_remembers_for_its_own_user_only(memory: KnowledgeMemory) -> None:
    agent = PluginAgent(command=COMMAND, allowed_permissions=ALLOWED)
    async with Runner(agent, store=MemorySessionStore(), app="t", memory=memory) as runner:
        added = await ask(runner, "ann", "add Ann's cat is called Miso")
        await ask(runner, "bob", "add Bob's cat is called Pepper")
        ann_found = await ask(runner, "ann", "search cat", session="later")
        bob_found = await ask(runner, "bob", "search cat")
        ann_listed = await ask(runner, "ann", "list")
        # bob cannot delete ann's memory by naming its id: his own memory has no such one
        bob_deletes = await ask(runner, "bob", f"delete {added['added']}")
        ann_deletes = await ask(runner, "ann", f"delete {added['added']}")
        ann_after = await ask(runner, "ann", "search cat")
    memory_id = added["added"]
    assert memory_id.startswith("t/note-")
    assert ann_found == {"found": ["Ann's cat is called Miso"]}
    assert bob_found == {"found": ["Bob's cat is called Pepper"]}
    assert ann_listed["listed"] == [memory_id]
    meta = ann_listed["meta"][0]
    assert meta["from"] == "plugin" and meta["app"] == "t" and meta["session_id"] == "s"
    assert bob_deletes == {"deleted": False}
    assert ann_deletes == {"deleted": True}
    assert ann_after == {"found": []}
    # what the plugin added is in the host's store, under bob's own user
    assert [c.text for c in await memory.search("bob", "Pepper")] == ["Bob's cat is called Pepper"]


async def test_the_runs_grant_and_the_manifest_authorize(memory: KnowledgeMemory) -> None:
    # no memory store: no grant (and no `host.memory`)
    agent = PluginAgent(command=COMMAND, allowed_permissions=ALLOWED)
    async with Runner(agent, store=MemorySessionStore(), app="t") as runner:
        refused = await ask(runner, "ann", "add x")
    assert refused == {"refused": "unauthorized", "message": "This host has no memory store."}
    # a grant without `add`
    search_only = Resources(memory=MemoryResource(operations=["search"]))
    agent = PluginAgent(command=COMMAND, allowed_permissions=ALLOWED)
    async with Runner(
        agent, store=MemorySessionStore(), app="t", memory=memory, resources=search_only
    ) as runner:
        refused = await ask(runner, "ann", "add x")
        found = await ask(runner, "ann", "search x")
    assert refused["refused"] == "unauthorized" and "Memory (add)" in refused["message"]
    assert found == {"found": []}
    # a plugin that did not declare memory in its manifest is refused, whatever the grant
    agent = PluginAgent(command=[*COMMAND, "--undeclared"], allowed_permissions=ALLOWED)
    async with Runner(agent, store=MemorySessionStore(), app="t", memory=memory) as runner:
        refused = await ask(runner, "ann", "add x")
    assert refused["refused"] == "unauthorized"
    assert "did not declare the permission 'memory'" in refused["message"]
    # a plugin whose manifest asks for memory does not start unless it is allowed
    agent = PluginAgent(command=COMMAND)
    async with Runner(agent, store=MemorySessionStore(), app="t", memory=memory) as runner:
        events = await collect(runner.run("ann", "s", "add x"))
    assert events[-1].type == "run.failed" and events[-1].error is not None
    assert "memory" in events[-1].error.message
    assert await memory.memories("ann") == []  # nothing was added by the refused runs
