"""The host tools every adapter gives its framework (knowledge, memory, artifacts), checked the
same way for each: the fake model asks the framework to call a tool, the framework runs it, and
what it got back (the `tool.call.completed` result) holds the run's user's data only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agenthost.backends.artifacts import open_artifact_store
from agenthost.backends.knowledge import InMemoryKnowledgeBase, open_knowledge_store
from agenthost.backends.knowledge.memory_store import KnowledgeMemory
from agenthost.core.events import Event
from agenthost.engine.runner import Runner, collect
from agenthost.ports.artifacts import ArtifactStore
from agenthost.ports.protocol import Agent
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import TextReply, tool_call
from agenthost.testing.fake_openai import FakeOpenAIServer

HANDBOOK = InMemoryKnowledgeBase(
    "handbook",
    {
        "returns.md": "Bikes can be returned within 30 days with the receipt.",
        "hours.md": "The shop opens at nine and closes at six.",
    },
)


@dataclass
class Stores:
    memory: KnowledgeMemory
    artifacts: ArtifactStore


@asynccontextmanager
async def stores() -> AsyncIterator[Stores]:
    """A memory store where ann and bob each remember their own cat, and an artifact store."""
    async with (
        open_knowledge_store("memory://") as knowledge,
        open_artifact_store("memory://") as artifacts,
    ):
        memory = KnowledgeMemory(knowledge)
        await memory.add("ann", "Ann's cat is called Miso", app="t")
        await memory.add("bob", "Bob's cat is called Pepper", app="t")
        yield Stores(memory=memory, artifacts=artifacts)


def tool_results(events: list[Event], name: str) -> list[str]:
    """The results of the calls of tool `name` in the run's events."""
    out = []
    for event in events:
        data = event.data or {}
        if event.type == "tool.call.completed" and data.get("tool_name") == name:
            assert event.message is not None
            out.append(event.message.parts[0].content)  # type: ignore[union-attr]
    return out


async def call(
    runner: Runner, srv: FakeOpenAIServer, user: str, session: str, tool: str, **args: Any
) -> tuple[str, list[Event]]:
    """Run one turn in which the model calls `tool` with `args`: (its one result, the run's
    events)."""
    srv.add(tool_call(tool, args), TextReply("done"))
    events = await collect(runner.run(user, session, f"use {tool}"))
    assert events[-1].type == "run.completed", events[-1]
    results = tool_results(events, tool)
    assert len(results) == 1, [(e.type, e.data) for e in events]
    return results[0], events


def retrieved(events: list[Event]) -> list[dict[str, Any]]:
    return [e.data or {} for e in events if e.type == "knowledge.retrieved"]


async def check_knowledge_and_memory(
    make: Callable[[], Agent], srv: FakeOpenAIServer, store: SessionStore
) -> None:
    """search_knowledge and load_memory: the agent made by `make()` (configured with the
    handbook and memory) reads the handbook and its own user's memories, never another's."""
    async with stores() as s, Runner(make(), store=store, app="t", memory=s.memory) as runner:
        ann, ann_events = await call(runner, srv, "ann", "s1", "load_memory", query="cat")
        bob, _ = await call(runner, srv, "bob", "s2", "load_memory", query="cat")
        found, kb_events = await call(
            runner, srv, "ann", "s1", "search_knowledge", query="can bikes be returned"
        )
    assert "Miso" in ann and "Pepper" not in ann, ann
    assert "Pepper" in bob and "Miso" not in bob
    assert "returned within 30 days" in found and "returns.md" in found, found
    # each search is a knowledge.retrieved event citing what it found
    memory_cited = retrieved(ann_events)
    assert [r["mode"] for r in memory_cited] == ["memory"]
    assert memory_cited[0]["citations"][0]["id"].startswith("t/note-")
    kb_cited = retrieved(kb_events)
    assert kb_cited[0]["citations"][0]["document"] == "returns.md"


async def check_artifacts(
    make: Callable[[], Agent], srv: FakeOpenAIServer, store: SessionStore
) -> None:
    """save_artifact, load_artifact, list_artifacts: a file saved in ann's session is hers;
    bob's run neither lists nor loads it."""
    async with stores() as s, Runner(make(), store=store, app="t", artifacts=s.artifacts) as runner:
        saved, _ = await call(
            runner, srv, "ann", "s1", "save_artifact", name="plan.md", content="Ann's plan"
        )
        loaded, _ = await call(runner, srv, "ann", "s1", "load_artifact", name="plan.md")
        listed, _ = await call(runner, srv, "ann", "s1", "list_artifacts")
        bob_loaded, _ = await call(runner, srv, "bob", "s1", "load_artifact", name="plan.md")
        bob_listed, _ = await call(runner, srv, "bob", "s1", "list_artifacts")
        stored = await s.artifacts.load(app="t", user_id="ann", session_id="s1", name="plan.md")
    assert saved.startswith("saved plan.md (version 0")
    assert loaded == "Ann's plan"
    assert listed.startswith("plan.md (version 0, text/plain")
    assert bob_loaded == "error: there is no file named 'plan.md'"
    assert bob_listed == "no files saved yet"
    assert stored is not None and stored.text == "Ann's plan"
