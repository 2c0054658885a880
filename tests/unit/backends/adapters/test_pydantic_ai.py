"""PydanticAIAgent: a real pydantic-ai Agent against the fake OpenAI server, through the Runner."""

from __future__ import annotations

from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agenthost.backends.adapters import PydanticAIAgent
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import openai_client
from .host_tools import HANDBOOK, check_artifacts, check_knowledge_and_memory
from .turns import check_a_reply_with_usage, check_plain_chat_history, next_turn_messages


def model(srv: FakeOpenAIServer, clients: list[AsyncOpenAI]) -> OpenAIChatModel:
    client = openai_client(srv, clients)
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
    await check_a_reply_with_usage(PydanticAIAgent(Agent(model(srv, clients))), srv, store)


async def test_tool_calls_and_results_are_carried_to_the_next_turn(
    srv: FakeOpenAIServer, store: SessionStore, clients: list[AsyncOpenAI]
) -> None:
    sent = await next_turn_messages(PydanticAIAgent(weather_agent(srv, clients)), srv, store)
    check_plain_chat_history(sent)


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
