"""AgentScopeAgent: a real AgentScope Agent (its OpenAIChatModel) against the fake OpenAI
server, through the Runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from agentscope.agent import Agent, InjectionConfig
from agentscope.credential import OpenAICredential
from agentscope.model import OpenAIChatModel
from agentscope.permission import PermissionContext, PermissionMode
from agentscope.state import AgentState
from agentscope.tool import FunctionTool, Toolkit

from agenthost.backends.adapters import AgentScopeAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import TextReply
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import deltas, first, kinds
from .host_tools import HANDBOOK, check_artifacts, check_knowledge_and_memory


def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


@pytest.fixture(autouse=True)
async def models() -> AsyncIterator[list[OpenAIChatModel]]:
    """Every model made in a test; their OpenAI clients are closed at its end."""
    MODELS.clear()
    yield MODELS
    for model in MODELS:
        await model.client.close()
    MODELS.clear()


MODELS: list[OpenAIChatModel] = []


def agent(srv: FakeOpenAIServer, *, tools: bool = True, **options: Any) -> AgentScopeAgent:
    model = OpenAIChatModel(
        credential=OpenAICredential(api_key="sk-test", base_url=srv.base_url),
        model="fake-model",
        max_retries=0,
        client_kwargs={"max_retries": 0},
    )
    MODELS.append(model)
    scope_agent = Agent(
        name="weather",
        system_prompt="Be brief.",
        model=model,
        toolkit=Toolkit(tools=[FunctionTool(get_weather)] if tools else []),
        state=AgentState(permission_context=PermissionContext(mode=PermissionMode.BYPASS)),
        injection_config=InjectionConfig(inject_runtime_state=False),
    )
    return AgentScopeAgent(scope_agent, **options)


async def test_a_reply_with_its_usage_and_events(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    srv.add(TextReply("Hello there, friend", usage=(7, 3)))
    async with Runner(agent(srv, tools=False), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert kinds(events) == ["message.received", "message.completed", "run.completed"]
    assert deltas(events) == "Hello there, friend"
    assert final_text(events) == "Hello there, friend"
    done = first(events, "message.completed")
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (7, 3)
    assert srv.bodies[0]["stream"] is True


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    async with Runner(agent(srv), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "weather?"))
        srv.add(TextReply("second answer"))
        events = await collect(runner.run("u1", "s1", "and tomorrow?"))
    assert final_text(events) == "second answer"
    sent = srv.bodies[-1]["messages"]
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["content"][0]["text"] == "weather?"
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[3]["content"] == "sunny in fake"
    assert "Done: sunny in fake" in orjson.dumps(sent[4]["content"]).decode()
    assert sent[5]["content"][0]["text"] == "and tomorrow?"


async def test_knowledge_and_memory_tools_of_the_runs_user_only(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    made: list[AgentScopeAgent] = []

    def make() -> AgentScopeAgent:
        made.append(agent(srv, knowledge=[HANDBOOK], memory=True))
        return made[-1]

    await check_knowledge_and_memory(make, srv, store)
    # the host tools were the run's only: the agent's toolkit is as it was
    schemas = await made[0].agent.toolkit.get_tool_schemas()
    assert [s["function"]["name"] for s in schemas] == ["get_weather"]


async def test_artifact_tools_of_the_runs_session_only(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    await check_artifacts(lambda: agent(srv, artifacts=True), srv, store)
