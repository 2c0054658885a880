"""Deleting a session through the Runner deletes its artifacts (every version), not the
user's `user:` ones nor another session's."""

from __future__ import annotations

from typing import Any

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.sessions import MemorySessionStore
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import ScriptedModel


async def test_delete_session_deletes_its_artifacts() -> None:
    store = MemoryArtifactStore()
    agent = LLMAgent(model=ScriptedModel(["one", "two"]))
    async with Runner(agent, store=MemorySessionStore(), app="t", artifacts=store) as runner:
        await collect(runner.run("ann", "s1", "hi"))
        await collect(runner.run("ann", "s2", "hi"))
        where: dict[str, Any] = {"app": "t", "user_id": "ann"}
        for data in (b"v0", b"v1"):
            await store.save(**where, session_id="s1", name="notes/plan.md", data=data)
        await store.save(**where, session_id="s1", name="user:prefs.json", data=b"{}")
        await store.save(**where, session_id="s2", name="kept.txt", data=b"x")
        await runner.delete_session("ann", "s1")
        after = [i.name for i in await store.list(**where, session_id="s1")]
        assert after == ["user:prefs.json"]
        assert await store.versions(**where, session_id="s1", name="notes/plan.md") == []
        kept = [i.name for i in await store.list(**where, session_id="s2")]
        assert kept == ["kept.txt", "user:prefs.json"]
