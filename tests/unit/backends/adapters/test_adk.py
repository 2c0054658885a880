"""ADKAgent: a real Google ADK LlmAgent (ADK's OpenAILlm) against the fake OpenAI server,
through the Runner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from google.adk.agents import LlmAgent
from google.adk.models import OpenAILlm
from google.adk.tools import ToolContext
from google.genai import types
from openai import AsyncOpenAI

from agenthost.backends.adapters import ADKAgent
from agenthost.engine.runner import Runner
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import openai_client
from .host_tools import HANDBOOK, call, check_knowledge_and_memory, stores
from .turns import check_a_reply_with_usage, next_turn_messages


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent(
    srv: FakeOpenAIServer,
    clients: list[AsyncOpenAI],
    *,
    tools: bool = True,
    more: Sequence[Any] = (),
    **options: Any,
) -> ADKAgent:
    client = openai_client(srv, clients)
    adk_agent = LlmAgent(
        name="weather",
        model=OpenAILlm(model="fake-model", client=client),
        instruction="Be brief.",
        tools=[*([get_weather] if tools else []), *more],
    )
    return ADKAgent(adk_agent, **options)


async def test_a_reply_with_its_usage_and_events(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    await check_a_reply_with_usage(agent(srv, clients, tools=False), srv, store)


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    sent = await next_turn_messages(agent(srv, clients), srv, store)
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["content"] == "weather?"
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert orjson.loads(sent[3]["content"]) == {"result": "sunny in fake"}
    assert sent[4]["content"] == 'Done: {"result": "sunny in fake"}'
    assert sent[5]["content"] == "and tomorrow?"


async def test_adks_load_memory_and_a_knowledge_tool_of_the_runs_user_only(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    # memory=True: ADK's own load_memory tool, over a memory service bridged to host.memory
    made: list[ADKAgent] = []

    def make() -> ADKAgent:
        made.append(agent(srv, clients, knowledge=[HANDBOOK], memory=True))
        return made[-1]

    await check_knowledge_and_memory(make, srv, store)
    sent = {t["function"]["name"] for t in srv.bodies[0]["tools"]}
    assert sent == {"get_weather", "search_knowledge", "load_memory"}
    assert made[0].agent.tools == [get_weather]  # the host tools went to a per-run clone


async def save_note(text: str, tool_context: ToolContext) -> str:
    """Save a note."""
    version = await tool_context.save_artifact("plan.md", types.Part(text=text))
    return f"saved version {version}"


async def read_note(tool_context: ToolContext) -> str:
    """Read the note."""
    names = await tool_context.list_artifacts()
    part = await tool_context.load_artifact("plan.md")
    return f"{names}: {part.text if part is not None else 'no note'}"


async def test_tool_context_artifacts_and_load_artifacts_of_the_runs_session_only(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    # artifacts=True: tool_context.save_artifact/load_artifact and ADK's load_artifacts tool
    # reach host.artifacts, the run's session's files
    make = agent(srv, clients, tools=False, more=[save_note, read_note], artifacts=True)
    async with stores() as s, Runner(make, store=store, app="t", artifacts=s.artifacts) as runner:
        saved, _ = await call(runner, srv, "ann", "s1", "save_note", text="Ann's plan")
        again, _ = await call(runner, srv, "ann", "s1", "save_note", text="Ann's new plan")
        read, _ = await call(runner, srv, "ann", "s1", "read_note")
        loaded, _ = await call(
            runner, srv, "ann", "s1", "load_artifacts", artifact_names=["plan.md"]
        )
        ann_request = srv.bodies[-1]
        bob_read, _ = await call(runner, srv, "bob", "s1", "read_note")
        await call(runner, srv, "bob", "s1", "load_artifacts", artifact_names=["plan.md"])
        bob_request = srv.bodies[-1]
        stored = await s.artifacts.versions(app="t", user_id="ann", session_id="s1", name="plan.md")
    assert (saved, again) == ("saved version 0", "saved version 1")
    assert read == "['plan.md']: Ann's new plan"
    assert bob_read == "[]: no note"
    assert [(i.version, i.mime_type) for i in stored] == [(0, "text/plain"), (1, "text/plain")]
    # load_artifacts put ann's file into the next model request; bob's has no such file
    assert "Ann's new plan" in str(ann_request["messages"])
    assert "Ann's" not in str(bob_request["messages"]) and "plan.md" in loaded


async def test_load_memory_without_a_memory_store_answers_an_error(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    async with Runner(agent(srv, clients, memory=True), store=store, app="t") as runner:
        answer, _ = await call(runner, srv, "ann", "s1", "load_memory", query="cat")
    assert answer == "error: This host has no memory store."
