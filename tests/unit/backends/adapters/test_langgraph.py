"""LangGraphAgent: a real LangGraph graph (ChatOpenAI + ToolNode) against the fake OpenAI
server, through the Runner."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from agenthost.backends.adapters import LangGraphAgent
from agenthost.engine.runner import Runner
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer

from .host_tools import HANDBOOK, call, check_artifacts, check_knowledge_and_memory
from .turns import check_a_reply_with_usage, next_turn_messages


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def graph(srv: FakeOpenAIServer, *, tools: bool = True, host_tools: bool = False) -> Any:
    llm = ChatOpenAI(
        model="fake-model",
        base_url=srv.base_url,
        api_key="sk-test",  # type: ignore[arg-type]
        streaming=True,
        stream_usage=True,
        max_retries=0,
    )
    toolbox = [get_weather, *(LangGraphAgent.host_tools() if host_tools else [])]
    model = llm.bind_tools(toolbox) if tools else llm

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    if tools:
        builder.add_node("tools", ToolNode(toolbox))
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
    return builder.compile(name="weather")


async def test_a_reply_with_its_usage_and_events(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    await check_a_reply_with_usage(LangGraphAgent(graph(srv, tools=False)), srv, store)


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    sent = await next_turn_messages(LangGraphAgent(graph(srv)), srv, store)
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2]["content"] == "sunny in fake"
    assert sent[3]["content"] == "Done: sunny in fake"
    assert sent[4]["content"] == "and tomorrow?"


async def test_knowledge_and_memory_tools_of_the_runs_user_only(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    await check_knowledge_and_memory(
        lambda: LangGraphAgent(graph(srv, host_tools=True), knowledge=[HANDBOOK], memory=True),
        srv,
        store,
    )


async def test_artifact_tools_of_the_runs_session_only(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    await check_artifacts(
        lambda: LangGraphAgent(graph(srv, host_tools=True), artifacts=True), srv, store
    )


async def test_a_host_tool_the_adapter_was_not_given_answers_an_error(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    async with Runner(LangGraphAgent(graph(srv, host_tools=True)), store=store, app="t") as runner:
        answer, _ = await call(runner, srv, "ann", "s1", "load_memory", query="cat")
    assert answer == "error: this agent has no long-term memory"
    sent = srv.bodies[0]["tools"]
    assert {t["function"]["name"] for t in sent} >= {"search_knowledge", "save_artifact"}
    # the run's tools ride in the config: the model is not asked for it
    memory = next(t for t in sent if t["function"]["name"] == "load_memory")
    assert set(memory["function"]["parameters"]["properties"]) == {"query"}
