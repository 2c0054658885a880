"""Server test fixtures: agents over a scripted model, an app, and clients for three users.

The model (`reply`) answers by the user's last message:
- "slow ..."   waits on the test's gate (`gate.set()` lets it answer) or 5 s;
- "fail ..."   raises a non-retryable model error (the run ends run.failed);
- "tool ..."   calls the `lookup` tool, then answers "Done: <tool result>";
- anything else: "Echo: <text> (#<n> user messages seen)" (n shows the history length).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import ModelHTTPError
from agenthost.core.messages import Message
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ToolSpec
from agenthost.ports.sessions import SessionStore
from agenthost.server import create_app
from agenthost.server.state import ServerState
from agenthost.testing.scripted import FunctionModel, tool_call

ALICE = "alice-key-0123456789"
BOB = "bob-key-0123456789ab"
ADMIN = "admin-key-0123456789"
KEYS = [f"{ALICE}:alice", f"{BOB}:bob", f"{ADMIN}:ops@admin"]


def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


class Gate:
    """What slow runs wait for."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.entered = asyncio.Event()

    def set(self) -> None:
        self.event.set()


def make_reply(gate: Gate) -> Callable[[list[Message], list[ToolSpec]], Any]:
    async def reply(messages: list[Message], tools: list[ToolSpec]) -> Any:
        last = messages[-1]
        if last.role == "tool":
            return f"Done: {last.parts[0].content}"  # type: ignore[union-attr]
        text = last.text
        if text.startswith("slow"):
            gate.entered.set()
            async with asyncio.timeout(5):
                await gate.event.wait()
        if text.startswith("fail"):
            return ModelHTTPError(model="test", status_code=400, body="scripted failure")
        if text.startswith("tool"):
            return tool_call("lookup", '{"query": "x"}')
        seen = sum(1 for m in messages if m.role == "user")
        return f"Echo: {text} (#{seen} user messages seen)"

    return reply


def make_runner(store: SessionStore, name: str, gate: Gate) -> Runner:
    agent = LLMAgent(
        model=FunctionModel(make_reply(gate), name="test:echo"),
        name=name,
        tools=[lookup],
        description=f"the {name} agent",
    )
    return Runner(agent, store=store, app=f"test/{name}")


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


@pytest.fixture
def runners(store: SessionStore, gate: Gate) -> dict[str, Runner]:
    return {name: make_runner(store, name, gate) for name in ("helper", "other")}


def client_for(app: Any, key: str | None = None) -> httpx.AsyncClient:
    """An in-process client of `app`, sending `key`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver", headers=headers
    )


@asynccontextmanager
async def started(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan; a client without a key."""
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield client


class Users:
    """Clients for alice, bob and the admin, plus the app's state."""

    def __init__(self, app: Any) -> None:
        self.anonymous = client_for(app)
        self.alice = client_for(app, ALICE)
        self.bob = client_for(app, BOB)
        self.admin = client_for(app, ADMIN)
        self.state: ServerState = app.state.agenthost


@pytest.fixture
def app_options() -> dict[str, Any]:
    """Extra create_app() options a test module can override."""
    return {}


@pytest.fixture
async def users(runners: dict[str, Runner], app_options: dict[str, Any]) -> AsyncIterator[Users]:
    app = create_app(runners, api_keys=KEYS, ping_interval=0.5, **app_options)
    async with app.router.lifespan_context(app):
        yield Users(app)


@pytest.fixture
async def local(runners: dict[str, Runner]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with no keys (local development mode)."""
    app = create_app(runners, api_keys=[])
    async with started(app) as client:
        yield client


async def wait_until(predicate: Callable[[], object], timeout: float = 120.0) -> None:
    """Poll `predicate` (server internals have no event to wait on) until it is true."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - nothing to await but time
            await asyncio.sleep(0.005)


# ---- SSE ---------------------------------------------------------------------------------


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Frames as dicts: id, event, data (JSON-decoded unless [DONE]); comments skipped."""
    frames: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        frame: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            frame[name] = value
        if "data" in frame:
            raw = frame["data"]
            frame["data"] = raw if raw == "[DONE]" else orjson.loads(raw)
        if frame:
            frames.append(frame)
    return frames


def event_types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["event"] for f in frames if "event" in f]
