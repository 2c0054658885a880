"""A2AAgent through our Runner, against (a) an agenthost server (an LLMAgent on the fake
OpenAI model, served over A2A) and (b) an agent built directly on the official a2a-sdk server
(a tiny AgentExecutor), both on 127.0.0.1 under uvicorn."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Part,
)
from starlette.applications import Starlette

from agenthost.backends.agents import A2AAgent
from agenthost.core.events import Event
from agenthost.core.session import SessionKey
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer, HangReply, ThreadedFakeServer
from tests.unit.server.live import KEY, live_agents, live_server


def types_of(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def failure(events: list[Event]) -> Any:
    last = events[-1]
    assert last.type == "run.failed", types_of(events)
    assert last.error is not None
    return last.error


async def until(flag: threading.Event) -> None:
    """Wait for a flag the server thread sets (generous bound: a busy machine is slow)."""
    assert await asyncio.to_thread(flag.wait, 60.0), "the server never got there"


# ---- (b) an agent on the official a2a-sdk server ----------------------------------------------


class Streamer(AgentExecutor):
    """Streams "Hello, <text>" in three chunks; "slow ..." waits to be cancelled; "ask ..."
    asks which city (input required) and answers the next message; "broken ..." fails."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled: list[str] = []
        self.cancel_seen = threading.Event()
        self.contexts: list[str] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        self.contexts.append(task.context_id)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        text = context.get_user_input()
        if text.startswith("slow"):
            self.started.set()
            await asyncio.Event().wait()  # until cancelled
        if text.startswith("broken"):
            await updater.failed(updater.new_agent_message([Part(text="no can do")]))
            return
        if text.startswith("ask"):
            await updater.requires_input(updater.new_agent_message([Part(text="Which city?")]))
            return
        pieces = ["Hel", "lo, ", text]
        for index, piece in enumerate(pieces):
            await updater.add_artifact(
                [Part(text=piece)],
                artifact_id="answer",
                append=index > 0,
                last_chunk=index == len(pieces) - 1,
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None
        self.cancelled.append(context.task_id)
        self.cancel_seen.set()
        updater = TaskUpdater(event_queue, context.task_id, context.context_id or "")
        await updater.cancel()


def sdk_app(executor: Streamer, url: list[str]) -> Starlette:
    card = AgentCard(
        name="sdk-streamer",
        description="A tiny agent on the a2a-sdk server.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url="http://set-later/", protocol_binding="JSONRPC", protocol_version="1.0"
            )
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="hello", name="hello", description="Says hello.", tags=["test"])],
    )

    async def with_url(served: AgentCard) -> AgentCard:  # the port is known once it listens
        out = AgentCard()
        out.CopyFrom(served)
        out.supported_interfaces[0].url = url[0] + "/"
        return out

    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = [
        *create_agent_card_routes(card, card_modifier=with_url),
        *create_jsonrpc_routes(handler, rpc_url="/"),
    ]
    return Starlette(routes=routes)


@pytest.fixture
def streamer() -> Streamer:
    return Streamer()


@pytest.fixture
def sdk_url(streamer: Streamer) -> Iterator[str]:
    url: list[str] = []
    with live_server(sdk_app(streamer, url)) as base:
        url.append(base)
        yield base


@pytest.fixture
async def sdk_runner(sdk_url: str, store: SessionStore) -> AsyncIterator[Runner]:
    async with Runner(A2AAgent(card_url=sdk_url, name="remote"), store=store) as runner:
        yield runner


async def state_of(runner: Runner, session_id: str) -> dict[str, Any]:
    session = await runner.store.get(SessionKey(runner.app, "u", session_id))
    assert session is not None
    return dict(session.state)


async def test_sdk_server_one_session_is_one_remote_context(
    sdk_runner: Runner, streamer: Streamer
) -> None:
    events = await collect(sdk_runner.run("u", "s1", "there"))
    assert types_of(events)[-2:] == ["message.completed", "run.completed"]
    deltas = [e.text for e in events if e.type == "message.delta"]
    assert deltas == ["Hel", "lo, ", "there"]
    assert final_text(events) == "Hello, there"
    state = await state_of(sdk_runner, "s1")
    assert state["remote.context_id"] == streamer.contexts[0]

    again = await collect(sdk_runner.run("u", "s1", "again"))
    assert final_text(again) == "Hello, again"
    assert streamer.contexts[1] == streamer.contexts[0]  # one session, one remote context
    other = await collect(sdk_runner.run("u", "s2", "new"))
    assert final_text(other) == "Hello, new" and streamer.contexts[2] != streamer.contexts[0]


async def test_sdk_agent_idle_timeout_cancels_the_remote_task(
    sdk_url: str, store: SessionStore, streamer: Streamer
) -> None:
    agent = A2AAgent(card_url=sdk_url + "/.well-known/agent-card.json", idle_timeout=0.5)
    async with Runner(agent, store=store) as runner:
        events = await collect(runner.run("u", "s1", "slow again"))
    error = failure(events)
    assert (error.code, error.retryable) == ("platform.timeout", True)
    assert "idle_timeout" in error.message
    await until(streamer.cancel_seen)
    assert len(streamer.cancelled) == 1


async def test_sdk_agent_failed_task(sdk_runner: Runner) -> None:
    error = failure(await collect(sdk_runner.run("u", "s1", "broken")))
    assert error.code == "platform.error" and not error.retryable
    assert "'sdk-streamer' failed the task: no can do" in error.message


async def test_sdk_agent_input_required_goes_on_in_the_same_task(
    sdk_runner: Runner, streamer: Streamer
) -> None:
    first = await collect(sdk_runner.run("u", "s1", "ask me"))
    assert final_text(first) == "Which city?"
    assert first[-1].data is not None and first[-1].data["finish_reason"] == "input_required"
    pending = (await state_of(sdk_runner, "s1"))["remote.task_id"]
    assert pending
    second = await collect(sdk_runner.run("u", "s1", "Paris"))
    assert final_text(second) == "Hello, Paris"
    assert (await state_of(sdk_runner, "s1")).get("remote.task_id") is None
    assert streamer.contexts[0] == streamer.contexts[1]


async def test_remote_down_is_a_retryable_failure(store: SessionStore, streamer: Streamer) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Runner(A2AAgent(card_url=f"http://127.0.0.1:{port}"), store=store) as runner:
        error = failure(await collect(runner.run("u", "s1", "hello")))
    assert (error.code, error.retryable) == ("platform.unavailable", True)
    assert f"127.0.0.1:{port}" in error.message

    # the card was fetched, then the agent went away
    url: list[str] = []
    async with Runner(A2AAgent(card_url="http://placeholder"), store=store) as runner:
        with live_server(sdk_app(streamer, url)) as base:
            url.append(base)
            runner.agent.card_url = base  # type: ignore[attr-defined]
            assert final_text(await collect(runner.run("u", "s2", "hi"))) == "Hello, hi"
        error = failure(await collect(runner.run("u", "s2", "hi again")))
    assert (error.code, error.retryable) == ("platform.unavailable", True)


def test_bad_settings() -> None:
    from agenthost.core.errors import ConfigError

    with pytest.raises(ConfigError, match="card_url must be an http"):
        A2AAgent(card_url="agents.example.com")
    with pytest.raises(ConfigError, match="idle_timeout must be > 0"):
        A2AAgent(card_url="https://agents.example.com", idle_timeout=0)
    agent = A2AAgent(card_url="https://a.example.com/x", api_key="secret-key-123")
    assert "secret-key-123" not in repr(agent)
    assert agent.card_location() == "https://a.example.com/x/.well-known/agent-card.json"
    assert (
        A2AAgent(card_url="https://a.example.com/card.json").card_location().endswith("/card.json")
    )


# ---- (a) an agenthost server, over A2A --------------------------------------------------------


@pytest.fixture(scope="module")
def fake_model() -> Iterator[ThreadedFakeServer]:
    # a pause between SSE frames: text that arrives in one read is one delta (openai_compat.py)
    with FakeOpenAIServer.start_in_thread(stream_delay=0.02) as fake:
        yield fake


@pytest.fixture(scope="module")
def agenthost_url(
    fake_model: ThreadedFakeServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("a2a-agent")
    with live_agents(fake_model.base_url, folder) as url:
        yield url


def remote(agenthost_url: str, agent: str) -> A2AAgent:
    return A2AAgent(card_url=f"{agenthost_url}/a2a/{agent}", name=agent, api_key=KEY)


async def remote_runs(agenthost_url: str, agent: str, context_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
        url = f"{agenthost_url}/v1/apps/{agent}/sessions/{context_id}"
        response = await http.get(url)
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


async def test_agenthost_agent_over_a2a(agenthost_url: str, store: SessionStore) -> None:
    async with Runner(remote(agenthost_url, "plain"), store=store) as runner:
        events = await collect(runner.run("u", "s1", "hello"))
        assert types_of(events)[-2:] == ["message.completed", "run.completed"]
        deltas = [e.text for e in events if e.type == "message.delta"]
        assert len(deltas) > 1 and "".join(deltas) == "Echo: hello"
        assert final_text(events) == "Echo: hello"
        completed = next(e for e in events if e.type == "message.completed")
        assert completed.usage is not None and completed.usage.requests == 1  # from metadata
        again = await collect(runner.run("u", "s1", "second"))
        assert final_text(again) == "Echo: second"
        context_id = (await state_of(runner, "s1"))["plain.context_id"]
    runs = await remote_runs(agenthost_url, "plain", context_id)
    assert [r["status"] for r in runs] == ["completed", "completed"]  # one remote session

    async with Runner(remote(agenthost_url, "helper"), store=store) as runner:
        events = await collect(runner.run("u", "s2", "look it up"))
    assert final_text(events) == "Done: found fake"  # the remote agent ran its tool


async def test_agenthost_agent_cancel_is_forwarded(
    agenthost_url: str, fake_model: ThreadedFakeServer, store: SessionStore
) -> None:
    fake_model.server.add(HangReply())  # the remote model never answers
    events: list[Event] = []
    async with Runner(remote(agenthost_url, "plain"), store=store) as runner:
        task_known = asyncio.Event()

        async def run() -> None:
            async for event in runner.run("u", "s1", "hang on", run_id="run-hang"):
                events.append(event)
                if event.type == "state.updated":
                    task_known.set()

        async with asyncio.TaskGroup() as group:
            group.create_task(run())
            await task_known.wait()
            runner.cancel("run-hang")
        context_id = (await state_of(runner, "s1"))["plain.context_id"]
    assert failure(events).code == "cancelled"
    runs = await remote_runs(agenthost_url, "plain", context_id)
    assert [r["status"] for r in runs] == ["cancelled"]  # the remote run was cancelled too


async def test_agenthost_agent_wrong_key(agenthost_url: str, store: SessionStore) -> None:
    agent = A2AAgent(card_url=f"{agenthost_url}/a2a/plain", api_key="wrong-key-0123456789")
    async with Runner(agent, store=store) as runner:
        error = failure(await collect(runner.run("u", "s1", "hello")))
    assert (error.code, error.retryable) == ("platform.http_error", False)
    assert "HTTP 401" in error.message and "api_key" in error.message
