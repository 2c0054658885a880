from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.events import Event
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


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
