"""The Runner against a real OpenAI-compatible HTTP server (the fake one, on 127.0.0.1):
a good turn, and a model endpoint that is down, slow or returns garbage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agenthost.backends.models import infer_model
from agenthost.backends.models.providers import ProviderSettings
from agenthost.core.events import Event
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.model_chain import RetryPolicy
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.models import ModelSettings
from agenthost.ports.sessions import SessionStore
from agenthost.testing._fake_replies import ErrorReply, GarbageReply, HangReply, TextReply
from agenthost.testing.fake_openai import FakeOpenAIServer

from .net import free_port

pytestmark = pytest.mark.integration


async def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as srv:
        yield srv


def agent_for(base_url: str, **kw: object) -> LLMAgent:
    providers = {"fake": ProviderSettings(base_url=base_url, api_key="sk-test")}
    model = infer_model("fake:gpt-4o-mini", providers=providers)
    return LLMAgent(
        model=model,
        tools=[lookup],
        retry=RetryPolicy(retries=0),
        settings=ModelSettings(timeout=0.5),
        **kw,  # type: ignore[arg-type]
    )


async def run_once(agent: LLMAgent, store: SessionStore) -> list[Event]:
    async with agent.models[0], Runner(agent, store=store) as runner:
        return await collect(runner.run("u", "s", "look up cats"))


@pytest.mark.parametrize("stream", [False, True])
async def test_a_turn_with_a_tool_over_http(
    server: FakeOpenAIServer, store: SessionStore, stream: bool
) -> None:
    events = await run_once(agent_for(server.base_url, stream=stream), store)
    assert events[-1].type == "run.completed"
    assert final_text(events) == "Done: found fake"
    assert events[-1].usage is not None and events[-1].usage.requests == 2
    assert server.request_count == 2
    second = server.bodies[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool"]


@pytest.mark.parametrize(
    ("reply", "code", "retryable"),
    [
        (ErrorReply(status=500, body="boom"), "model_http_error", True),
        (ErrorReply(status=401, body="bad key"), "model_http_error", False),
        (HangReply(), "model_timeout", True),
        (GarbageReply("json"), "model_bad_response", True),
        (GarbageReply("cut"), "model_bad_response", True),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_model_faults_end_the_run_failed_with_the_session_intact(
    server: FakeOpenAIServer,
    store: SessionStore,
    reply: object,
    code: str,
    retryable: bool,
    stream: bool,
) -> None:
    server.add(reply)  # type: ignore[arg-type]
    events = await run_once(agent_for(server.base_url, stream=stream), store)
    failed = events[-1]
    assert failed.type == "run.failed"
    assert failed.error is not None
    assert (failed.error.code, failed.error.retryable) == (code, retryable)
    # the session is intact and the next message works
    server.add(TextReply("better now"))
    events = await run_once(agent_for(server.base_url, stream=stream), store)
    assert final_text(events) == "better now"


async def test_endpoint_down(store: SessionStore) -> None:
    events = await run_once(agent_for(f"http://127.0.0.1:{free_port()}/v1"), store)
    assert events[-1].error is not None
    assert events[-1].error.code == "model_unavailable" and events[-1].error.retryable
