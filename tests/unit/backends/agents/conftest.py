from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.events import Event
from agenthost.core.usage import Usage
from agenthost.engine.runner import final_text
from agenthost.ports.sessions import SessionStore

from .fake_platform import FakePlatform

PLATFORM_ENV = (
    "DIFY_API_KEY",
    "DIFY_BASE_URL",
    "COZE_API_KEY",
    "COZE_BASE_URL",
    "COZE_BOT_ID",
    "DASHSCOPE_API_KEY",
    "BAILIAN_APP_ID",
    "BAILIAN_BASE_URL",
)


@pytest.fixture(autouse=True)
def no_platform_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a real key or URL from the environment."""
    for name in PLATFORM_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform() as server:
        yield server


def terminal(events: list[Event]) -> Event:
    """The run's last event, which ends it."""
    assert events[-1].is_terminal
    return events[-1]


def types(events: list[Event]) -> list[str]:
    """The types of the stored (non-partial) events."""
    return [e.type for e in events if not e.partial]


def check_streamed_hello(events: list[Event], usage: Usage) -> None:
    """A first turn whose reply streamed as "Hel", "lo": the stored events (the platform's
    handle saved in state), the deltas, the text, and `usage` on the reply and the run's end."""
    assert types(events) == [
        "message.received",
        "state.updated",
        "message.completed",
        "run.completed",
    ]
    assert [e.message.text for e in events if e.partial and e.message] == ["Hel", "lo"]
    assert final_text(events) == "Hello"
    assert events[-2].usage == usage and terminal(events).usage == usage
