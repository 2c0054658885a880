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
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer

from .host_tools import HANDBOOK, check_artifacts, check_knowledge_and_memory
from .turns import check_a_reply_with_usage, next_turn_messages


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
    await check_a_reply_with_usage(agent(srv, tools=False), srv, store)


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore
) -> None:
    sent = await next_turn_messages(agent(srv), srv, store)
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
