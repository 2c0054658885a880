"""PydanticAIAgent: a real pydantic-ai Agent against the fake OpenAI server, through the Runner."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agenthost.backends.adapters import PydanticAIAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import TextReply
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import deltas, kinds
from .host_tools import HANDBOOK, check_artifacts, check_knowledge_and_memory


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncOpenAI]]:
    opened: list[AsyncOpenAI] = []
    yield opened
    for client in opened:
        await client.close()


def model(srv: FakeOpenAIServer, clients: list[AsyncOpenAI]) -> OpenAIChatModel:
    client = AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    clients.append(client)
    return OpenAIChatModel("fake-model", provider=OpenAIProvider(openai_client=client))


def weather_agent(srv: FakeOpenAIServer, clients: list[AsyncOpenAI]) -> Agent[None, str]:
    agent = Agent(model(srv, clients), name="weather", instructions="Be brief.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    return agent


async def test_a_reply_with_its_usage_and_events(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    srv.add(TextReply("Hello there, friend", usage=(7, 3)))
    async with Runner(PydanticAIAgent(Agent(model(srv, clients))), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert kinds(events) == ["message.received", "message.completed", "run.completed"]
    assert deltas(events) == "Hello there, friend"
    assert final_text(events) == "Hello there, friend"
    done = events[-2]
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (7, 3)
    assert srv.bodies[0]["stream"] is True


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    async with Runner(PydanticAIAgent(weather_agent(srv, clients)), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "weather?"))
        srv.add(TextReply("second answer"))
        events = await collect(runner.run("u1", "s1", "and tomorrow?"))
    assert final_text(events) == "second answer"
    sent = srv.bodies[-1]["messages"]
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["content"] == "weather?"
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[3]["content"] == "sunny in fake"
    assert sent[4]["content"] == "Done: sunny in fake"
    assert sent[5]["content"] == "and tomorrow?"


async def test_knowledge_and_memory_tools_of_the_runs_user_only(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    await check_knowledge_and_memory(
        lambda: PydanticAIAgent(Agent(model(srv, clients)), knowledge=[HANDBOOK], memory=True),
        srv,
        store,
    )


async def test_artifact_tools_of_the_runs_session_only(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    await check_artifacts(
        lambda: PydanticAIAgent(Agent(model(srv, clients)), artifacts=True), srv, store
    )
