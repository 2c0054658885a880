"""OpenAIAgentsAgent: a real OpenAI Agents SDK Agent (chat completions model) against the fake
OpenAI server, through the Runner."""

from __future__ import annotations

from typing import Any

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    RunConfig,
    function_tool,
    set_trace_processors,
)
from agents.tracing import TracingProcessor
from agents.tracing.processors import default_processor
from openai import AsyncOpenAI

from agenthost.backends.adapters import OpenAIAgentsAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import openai_client
from .host_tools import HANDBOOK, check_artifacts, check_knowledge_and_memory
from .turns import check_a_reply_with_usage, check_plain_chat_history, next_turn_messages

NO_TRACING = RunConfig(tracing_disabled=True)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent(
    srv: FakeOpenAIServer, clients: list[AsyncOpenAI], *, tools: bool = True, **options: Any
) -> OpenAIAgentsAgent:
    client = openai_client(srv, clients)
    sdk_agent = Agent(
        name="weather",
        instructions="Be brief.",
        model=OpenAIChatCompletionsModel(model="fake-model", openai_client=client),
        model_settings=ModelSettings(include_usage=True),
        tools=[get_weather] if tools else [],
    )
    return OpenAIAgentsAgent(sdk_agent, run_config=NO_TRACING, **options)


async def test_a_reply_with_its_usage_and_events(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    await check_a_reply_with_usage(agent(srv, clients, tools=False), srv, store)


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    sent = await next_turn_messages(agent(srv, clients), srv, store)
    check_plain_chat_history(sent)


async def test_knowledge_and_memory_tools_of_the_runs_user_only(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    await check_knowledge_and_memory(
        lambda: agent(srv, clients, knowledge=[HANDBOOK], memory=True), srv, store
    )


async def test_artifact_tools_of_the_runs_session_only(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    await check_artifacts(lambda: agent(srv, clients, artifacts=True), srv, store)


class _Traces(TracingProcessor):
    """The names of the traces the SDK started (instead of sending them to OpenAI)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def on_trace_start(self, trace: Any) -> None:
        self.started.append(trace.name)

    def on_trace_end(self, trace: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        pass

    def on_span_end(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


async def test_tracing_false_keeps_the_sdk_from_tracing(
    srv: FakeOpenAIServer,
    store: SessionStore,
    clients: list[AsyncOpenAI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_AGENTS_DISABLE_TRACING", raising=False)
    traces = _Traces()
    set_trace_processors([traces])
    try:
        for tracing in (False, True):
            sdk_agent = agent(srv, clients, tools=False).agent
            srv.add("traced?")
            adapter = OpenAIAgentsAgent(sdk_agent, tracing=tracing)
            async with Runner(adapter, store=store, app="t") as runner:
                assert final_text(await collect(runner.run("u1", None, "hi"))) == "traced?"
            assert len(traces.started) == (1 if tracing else 0), tracing
    finally:
        set_trace_processors([default_processor()])
