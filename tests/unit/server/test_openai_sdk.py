"""The official OpenAI Python SDK, unchanged, against a real server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from agenthost.testing.fake_openai import FakeOpenAIServer

from .live import KEY, live_agents


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("sdk")
    with FakeOpenAIServer.start_in_thread() as fake, live_agents(fake.base_url, folder) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_models(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["helper", "plain"]
    assert client.models.retrieve("plain").id == "plain"


def test_chat_completion(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.choices[0].message.content == "Echo: hello"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens > 0


def test_chat_completion_runs_the_tool(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="helper", messages=[{"role": "user", "content": "look it up"}]
    )
    assert reply.choices[0].message.content == "Done: found fake"


def test_chat_stream_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="helper",
        messages=[{"role": "user", "content": "look it up"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Done: found fake"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


def test_session_continuity_by_header(client: OpenAI) -> None:
    for text in ("one", "two"):
        raw = client.chat.completions.with_raw_response.create(
            model="plain",
            messages=[{"role": "user", "content": text}],
            extra_headers={"X-Session-Id": "sdk-conv"},
        )
        assert raw.headers["x-session-id"] == "sdk-conv"
        assert raw.parse().choices[0].message.content == f"Echo: {text}"
    events = httpx.get(
        f"{client.base_url}apps/plain/sessions/sdk-conv/events",
        headers={"Authorization": f"Bearer {KEY}"},
    ).json()["events"]
    assert [e["type"] for e in events].count("run.completed") == 2


def test_responses(client: OpenAI) -> None:
    first = client.responses.create(model="plain", input="hello")
    assert first.status == "completed" and first.output_text == "Echo: hello"
    second = client.responses.create(model="plain", input="again", previous_response_id=first.id)
    assert second.output_text == "Echo: again"


def test_responses_stream_events(client: OpenAI) -> None:
    events = list(client.responses.create(model="helper", input="look", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Done: found fake"


def test_responses_stream_helper(client: OpenAI) -> None:
    with client.responses.stream(model="plain", input="streamed") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "Echo: streamed" and final.output_text == "Echo: streamed"


def test_errors_are_sdk_exceptions(base_url: str, client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "agent_not_found"
    bad = OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.BadRequestError) as bad_request:
        client.chat.completions.create(
            model="plain",
            messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
        )
    assert bad_request.value.param == "messages.1.role"


async def test_async_client_streams(base_url: str) -> None:
    async with AsyncOpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(
            model="plain", messages=[{"role": "user", "content": "async"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Echo: async"
