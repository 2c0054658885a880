"""LangGraphAgent: a real LangGraph graph (ChatOpenAI + ToolNode) against the fake OpenAI
server, through the Runner."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from agenthost.backends.adapters import LangGraphAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import ErrorReply, TextReply
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import deltas, first, kinds, tool_result


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def graph(srv: FakeOpenAIServer, *, tools: bool = True) -> Any:
    llm = ChatOpenAI(
        model="fake-model",
        base_url=srv.base_url,
        api_key="sk-test",  # type: ignore[arg-type]
        streaming=True,
        stream_usage=True,
        max_retries=0,
    )
    model = llm.bind_tools([get_weather]) if tools else llm

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    if tools:
        builder.add_node("tools", ToolNode([get_weather]))
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
    return builder.compile(name="weather")


async def test_a_reply_is_streamed(srv: FakeOpenAIServer, store: SessionStore) -> None:
    srv.add(TextReply("Hello there, friend", usage=(7, 3)))
    async with Runner(LangGraphAgent(graph(srv, tools=False)), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert kinds(events) == ["message.received", "message.completed", "run.completed"]
    assert deltas(events) == "Hello there, friend"
    assert final_text(events) == "Hello there, friend"
    done = first(events, "message.completed")
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (7, 3)
    assert srv.bodies[0]["stream"] is True


async def test_a_tool_call_round_trip(srv: FakeOpenAIServer, store: SessionStore) -> None:
    async with Runner(LangGraphAgent(graph(srv)), store=store, app="t") as runner:
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
    assert final_text(events) == "Done: sunny in fake"


async def test_history_is_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    async with Runner(LangGraphAgent(graph(srv)), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "weather?"))
        srv.add(TextReply("second answer"))
        events = await collect(runner.run("u1", "s1", "and tomorrow?"))
    assert final_text(events) == "second answer"
    sent = srv.bodies[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2]["content"] == "sunny in fake"
    assert sent[3]["content"] == "Done: sunny in fake"
    assert sent[4]["content"] == "and tomorrow?"


async def test_a_model_error_is_a_failed_run(srv: FakeOpenAIServer, store: SessionStore) -> None:
    srv.add(ErrorReply(503))
    async with Runner(LangGraphAgent(graph(srv, tools=False)), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = events[-1]
    assert failed.type == "run.failed" and failed.error is not None
    assert failed.error.code == "adapter.model_error" and failed.error.retryable


async def test_cancel_stops_a_slow_model_call(store: SessionStore) -> None:
    async with FakeOpenAIServer(stream_delay=2.0) as slow:
        slow.add(TextReply("a b c d e f"))
        agent = LangGraphAgent(graph(slow, tools=False))
        async with Runner(agent, store=store, app="t") as runner:
            asyncio.get_running_loop().call_later(0.3, runner.cancel, "r1")
            started = time.monotonic()
            events = await collect(runner.run("u1", "s1", "hi", run_id="r1"))
    assert time.monotonic() - started < 1.5
    assert events[-1].error is not None and events[-1].error.code == "cancelled"


async def test_a_deadline_stops_a_slow_model_call(store: SessionStore) -> None:
    async with FakeOpenAIServer(stream_delay=2.0) as slow:
        slow.add(TextReply("a b c d e f"))
        agent = LangGraphAgent(graph(slow, tools=False))
        async with Runner(agent, store=store, app="t") as runner:
            started = time.monotonic()
            events = await collect(runner.run("u1", "s1", "hi", timeout=0.3))
    assert time.monotonic() - started < 1.5
    assert events[-1].error is not None and events[-1].error.code == "deadline_exceeded"
