"""ADKAgent: a real Google ADK LlmAgent (ADK's OpenAILlm) against the fake OpenAI server,
through the Runner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from google.adk.agents import LlmAgent
from google.adk.models import OpenAILlm
from openai import AsyncOpenAI

from agenthost.backends.adapters import ADKAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import ErrorReply, TextReply
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import deltas, first, kinds, tool_result


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncOpenAI]]:
    opened: list[AsyncOpenAI] = []
    yield opened
    for client in opened:
        await client.close()


def agent(srv: FakeOpenAIServer, clients: list[AsyncOpenAI], *, tools: bool = True) -> ADKAgent:
    client = AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    clients.append(client)
    adk_agent = LlmAgent(
        name="weather",
        model=OpenAILlm(model="fake-model", client=client),
        instruction="Be brief.",
        tools=[get_weather] if tools else [],
    )
    return ADKAgent(adk_agent)


async def test_a_reply_is_streamed(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    srv.add(TextReply("Hello there, friend", usage=(7, 3)))
    async with Runner(agent(srv, clients, tools=False), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert kinds(events) == ["message.received", "message.completed", "run.completed"]
    assert deltas(events) == "Hello there, friend"
    assert final_text(events) == "Hello there, friend"
    done = first(events, "message.completed")
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (7, 3)
    assert srv.bodies[0]["stream"] is True


async def test_a_tool_call_round_trip(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    async with Runner(agent(srv, clients), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "weather?"))
    assert kinds(events) == [
        "message.received",
        "message.completed",
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    started = first(events, "tool.call.started")
    assert started.data is not None and started.data["tool_name"] == "get_weather"
    assert orjson.loads(started.data["parameters"]) == {"city": "fake"}
    assert tool_result(first(events, "tool.call.completed")) == "sunny in fake"
    # ADK sends a plain tool result to the model as {"result": ...}
    assert final_text(events) == 'Done: {"result": "sunny in fake"}'
    called = first(events, "message.completed").message
    assert called is not None and called.tool_calls[0].name == "get_weather"


async def test_history_is_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    async with Runner(agent(srv, clients), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "weather?"))
        srv.add(TextReply("second answer"))
        events = await collect(runner.run("u1", "s1", "and tomorrow?"))
    assert final_text(events) == "second answer"
    sent = srv.bodies[-1]["messages"]
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["content"] == "weather?"
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert orjson.loads(sent[3]["content"]) == {"result": "sunny in fake"}
    assert sent[4]["content"] == 'Done: {"result": "sunny in fake"}'
    assert sent[5]["content"] == "and tomorrow?"


async def test_a_model_error_is_a_failed_run(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    srv.add(ErrorReply(503))
    async with Runner(agent(srv, clients, tools=False), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = events[-1]
    assert failed.type == "run.failed" and failed.error is not None
    assert failed.error.code == "adapter.model_error" and failed.error.retryable


async def test_cancel_stops_a_slow_model_call(
    store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    async with FakeOpenAIServer(stream_delay=2.0) as slow:
        slow.add(TextReply("a b c d e f"))
        async with Runner(agent(slow, clients, tools=False), store=store, app="t") as runner:
            asyncio.get_running_loop().call_later(0.3, runner.cancel, "r1")
            started = time.monotonic()
            events = await collect(runner.run("u1", "s1", "hi", run_id="r1"))
    assert time.monotonic() - started < 1.5
    assert events[-1].error is not None and events[-1].error.code == "cancelled"


async def test_a_deadline_stops_a_slow_model_call(
    store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    async with FakeOpenAIServer(stream_delay=2.0) as slow:
        slow.add(TextReply("a b c d e f"))
        async with Runner(agent(slow, clients, tools=False), store=store, app="t") as runner:
            started = time.monotonic()
            events = await collect(runner.run("u1", "s1", "hi", timeout=0.3))
    assert time.monotonic() - started < 1.5
    assert events[-1].error is not None and events[-1].error.code == "deadline_exceeded"
