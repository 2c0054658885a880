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


async def test_a_plugin_from_the_config_file_is_granted_memory(tmp_path: Path) -> None:
    """`memory: true` in a `kind: plugin` entry: its runs reach their own user's memories in
    the config's knowledge store, never another user's; `memory: [search]` grants searching
    only."""
    from agenthost.config import build_runtime, parse_config

    def config(memory: object) -> Any:
        entry = {
            "kind": "plugin",
            "command": COMMAND,
            "allowed_permissions": {"memory": True},
            "memory": memory,
        }
        return parse_config(
            {
                "app": "t",
                "store": {"url": "memory://"},
                "knowledge": {"url": f"sqlite:///{tmp_path}/kb.db"},
                "agents": {"memo": entry},
            },
            env={},
        )

    async with build_runtime(config(True)) as rt:
        await ask(rt.runner, "ann", "add Ann's cat is called Miso")
        await ask(rt.runner, "bob", "add Bob's cat is called Pepper")
        ann_found = await ask(rt.runner, "ann", "search cat", session="later")
        bob_found = await ask(rt.runner, "bob", "search cat", session="later")
        bob_listed = await ask(rt.runner, "bob", "list")
    assert ann_found == {"found": ["Ann's cat is called Miso"]}
    assert bob_found == {"found": ["Bob's cat is called Pepper"]}
    assert len(bob_listed["listed"]) == 1
    # the notes are in the config's knowledge store, each under its own user
    async with open_knowledge_store(f"sqlite:///{tmp_path}/kb.db") as store:
        stored = KnowledgeMemory(store)
        assert [c.text for c in await stored.search("ann", "cat")] == ["Ann's cat is called Miso"]
    # a grant of some operations only
    async with build_runtime(config(["search"])) as rt:
        refused = await ask(rt.runner, "ann", "add Ann likes tea")
        found = await ask(rt.runner, "ann", "search cat")
    assert refused["refused"] == "unauthorized" and "Memory (add)" in refused["message"]
    assert found == {"found": ["Ann's cat is called Miso"]}
    # no `memory:`: nothing granted
    async with build_runtime(config(False)) as rt:
        refused = await ask(rt.runner, "ann", "search cat")
    assert refused == {"refused": "unauthorized", "message": "This host has no memory store."}


@pytest.mark.parametrize(
    ("memory", "allowed", "error"),
    [
        ("yes", True, "agents.memo.memory: expected bool | array, got str"),
        (["search", "forget"], True, "agents.memo.memory[1]: 'forget' is not a memory operation"),
        ([], True, "agents.memo.memory: an empty list grants nothing"),
        (True, False, "agents.memo.memory: grants memory, but allowed_permissions does not"),
    ],
)
def test_a_bad_memory_setting_names_the_field(memory: object, allowed: bool, error: str) -> None:
    from agenthost.config import parse_config
    from agenthost.core.errors import ConfigError

    entry = {"kind": "plugin", "command": COMMAND, "memory": memory}
    if allowed:
        entry["allowed_permissions"] = {"memory": True}
    with pytest.raises(ConfigError) as caught:
        parse_config({"agents": {"memo": entry}}, env={})
    assert caught.value.message.startswith(error), caught.value.message
