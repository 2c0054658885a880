from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from agenthost.backends.sessions import open_session_store
from agenthost.core.events import Event
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncOpenAI]]:
    """The OpenAI clients a test made (`openai_client`), closed at its end."""
    opened: list[AsyncOpenAI] = []
    yield opened
    for client in opened:
        await client.close()


def openai_client(srv: FakeOpenAIServer, clients: list[AsyncOpenAI]) -> AsyncOpenAI:
    """An OpenAI client of the fake server (no retries), closed at the end of the test."""
    client = AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    clients.append(client)
    return client


@pytest.fixture
async def srv() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


def kinds(events: list[Event]) -> list[str]:
    """The types of the stored (non-partial) events."""
    return [e.type for e in events if not e.partial]


def deltas(events: list[Event]) -> str:
    return "".join(e.message.text for e in events if e.type == "message.delta" and e.message)


def first(events: list[Event], kind: str) -> Event:
    return next(e for e in events if e.type == kind)
