"""OpenAICompatibleModel against the real fake server over real HTTP."""

from __future__ import annotations

import socket

import pytest

from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.providers import Provider
from agenthost.core.errors import (
    ModelHTTPError,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
)
from agenthost.core.messages import Message, TextPart, ToolCallPart
from agenthost.core.usage import Price
from agenthost.ports.models import (
    ChatModel,
    ModelSettings,
    ResponseDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from agenthost.testing.fake_openai import (
    ErrorReply,
    FakeOpenAIServer,
    GarbageReply,
    HangReply,
    TextReply,
    ToolCall,
    ToolCallsReply,
)

HI = [Message.user("hi")]
WEATHER = ToolSpec(name="get_weather", parameters={"type": "object"})


async def collect(model: OpenAICompatibleModel, **kwargs: object) -> list[StreamEvent]:
    return [event async for event in model.stream(HI, **kwargs)]  # type: ignore[arg-type]


def done(events: list[StreamEvent]) -> ResponseDone:
    finals = [e for e in events if isinstance(e, ResponseDone)]
    assert len(finals) == 1 and events[-1] is finals[0]
    return finals[0]


def test_is_a_chat_model(model: OpenAICompatibleModel) -> None:
    assert isinstance(model, ChatModel)
    assert model.name == "fake:fake-model"
    assert "sk-test" not in repr(model)


async def test_request_text(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(TextReply("Hello there", usage=(12, 3)))
    response = await model.request(HI)
    assert response.message.role == "assistant"
    assert response.message.parts == (TextPart(text="Hello there"),)
    assert response.finish_reason == "stop"
    assert response.model == "fake:fake-model"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 3)
    assert response.usage.requests == 1
    request = server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


async def test_request_tool_calls(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    calls = (ToolCall("get_weather", {"city": "Paris"}, id="c1"), ToolCall("now", "{}", id="c2"))
    server.add(ToolCallsReply(calls=calls))
    response = await model.request(HI, tools=[WEATHER])
    assert response.finish_reason == "tool_calls"
    assert response.message.tool_calls == [
        ToolCallPart(id="c1", name="get_weather", arguments='{"city":"Paris"}'),
        ToolCallPart(id="c2", name="now", arguments="{}"),
    ]
    tools = server.bodies[-1]["tools"]
    assert tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "",
                "parameters": {"type": "object"},
            },
        }
    ]


async def test_stream_text_and_usage(
    server: FakeOpenAIServer, model: OpenAICompatibleModel
) -> None:
    server.stream_delay = 0.001  # each SSE frame in a write of its own: a delta each
    server.add(TextReply("The quick brown fox", usage=(40, 5)))
    events = await collect(model)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "The quick brown fox"
    response = done(events).response
    assert response.message.text == "The quick brown fox"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (40, 5)
    body = server.bodies[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_stream_text_that_arrived_together_is_one_delta(
    server: FakeOpenAIServer, model: OpenAICompatibleModel
) -> None:
    # the fake server writes the whole stream at once: its 5 text frames come in one read
    server.add(TextReply("The quick brown fox", usage=(40, 5)))
    events = await collect(model)
    assert events[:-1] == [TextDelta("The quick brown fox")]
    response = done(events).response
    assert response.message.text == "The quick brown fox"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (40, 5)


async def test_stream_parallel_tool_calls(
    server: FakeOpenAIServer, model: OpenAICompatibleModel
) -> None:
    long_args = {"city": "Saint-Rémy-de-Provence", "days": 10, "units": "metric"}
    calls = (ToolCall("get_weather", long_args, id="call_a"), ToolCall("get_time", {"tz": "CET"}))
    server.add(ToolCallsReply(calls=calls, text="Let me check.", usage=(7, 9)))
    events = await collect(model, tools=[WEATHER])
    tool_deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {d.index for d in tool_deltas} == {0, 1}
    assert sum(1 for d in tool_deltas if d.index == 0 and d.arguments) > 3  # really split
    assert [d.name for d in tool_deltas if d.name] == ["get_weather", "get_time"]
    response = done(events).response
    first, second = response.message.tool_calls
    assert first.id == "call_a" and first.parsed_arguments() == long_args
    assert second.name == "get_time" and second.parsed_arguments() == {"tz": "CET"}
    assert second.id.startswith("call_")
    assert response.message.text == "Let me check."
    assert response.finish_reason == "tool_calls"
    assert response.usage.output_tokens == 9


async def test_cost_from_price_table(server: FakeOpenAIServer) -> None:
    provider = Provider("openai", base_url=server.base_url, api_key="k")
    server.add(TextReply("a", usage=(1_000_000, 1_000_000)), TextReply("b", usage=(2_000_000, 0)))
    async with OpenAICompatibleModel("gpt-4o-mini", provider=provider) as model:
        assert (await model.request(HI)).usage.cost == pytest.approx(0.15 + 0.60)
        response = done(await collect(model)).response
        assert response.usage.cost == pytest.approx(0.30)


async def test_price_override_and_unknown_model(server: FakeOpenAIServer) -> None:
    prices = {"my-model": Price(input_per_mtok=1.0, output_per_mtok=2.0)}
    provider = Provider("fake", base_url=server.base_url, prices=prices)
    server.add(TextReply("a", usage=(500_000, 500_000)), TextReply("b", usage=(10, 10)))
    async with OpenAICompatibleModel("my-model", provider=provider) as model:
        assert (await model.request(HI)).usage.cost == pytest.approx(1.5)
    async with OpenAICompatibleModel("unknown", provider=provider) as model:
        assert model.price is None
        assert (await model.request(HI)).usage.cost == 0.0


async def test_settings_and_extra(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    settings = ModelSettings(
        temperature=0.2,
        max_tokens=50,
        tool_choice="required",
        extra={"seed": 7, "stream_options": None, "top_p": 0.5},
    )
    await collect(model, settings=settings)
    body = server.bodies[-1]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50
    assert body["tool_choice"] == "required"
    assert body["seed"] == 7 and body["top_p"] == 0.5
    assert "stream_options" not in body and body["stream"] is True


async def test_stream_closed_early_leaves_model_usable(server: FakeOpenAIServer) -> None:
    server.stream_delay = 0.01
    provider = Provider("fake", base_url=server.base_url)
    async with OpenAICompatibleModel("m", provider=provider) as model:
        server.add(TextReply("x" * 200))
        stream = model.stream(HI)
        first = await anext(stream)
        assert isinstance(first, TextDelta)
        await stream.aclose()  # type: ignore[attr-defined]
        server.stream_delay = 0.0
        server.add("after")
        assert (await model.request(HI)).message.text == "after"


# ---- errors ---------------------------------------------------------------------------------


async def test_429_with_retry_after(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(ErrorReply(429, retry_after=2), ErrorReply(429, retry_after="1.5"))
    with pytest.raises(ModelHTTPError) as info:
        await model.request(HI)
    error = info.value
    assert error.status_code == 429 and error.retry_after == 2.0 and error.retryable
    assert "rate_limit_exceeded" in error.body and "Rate limited" in error.message
    with pytest.raises(ModelHTTPError) as info:
        await collect(model)
    assert info.value.retry_after == 1.5


async def test_500_is_retryable(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(ErrorReply(500, "upstream exploded"))
    with pytest.raises(ModelHTTPError) as info:
        await model.request(HI)
    assert info.value.status_code == 500 and info.value.retryable
    assert info.value.retry_after is None and "upstream exploded" in info.value.message


async def test_401_hints_at_the_key(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(ErrorReply(401))
    with pytest.raises(ModelHTTPError) as info:
        await collect(model)
    assert info.value.status_code == 401 and not info.value.retryable
    assert "API key" in info.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_hang_times_out(
    server: FakeOpenAIServer, model: OpenAICompatibleModel, stream: bool
) -> None:
    server.add(HangReply())
    settings = ModelSettings(timeout=0.2)
    with pytest.raises(ModelTimeout) as info:
        if stream:
            await collect(model, settings=settings)
        else:
            await model.request(HI, settings=settings)
    assert "0.2s" in info.value.message and info.value.retryable
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_timeout_covers_a_slow_stream(
    server: FakeOpenAIServer, model: OpenAICompatibleModel
) -> None:
    server.stream_delay = 0.05
    server.add(TextReply("x" * 100))
    with pytest.raises(ModelTimeout):
        await collect(model, settings=ModelSettings(timeout=0.3))


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = Provider("fake", base_url=f"http://127.0.0.1:{port}/v1")
    async with OpenAICompatibleModel("m", provider=provider) as model:
        with pytest.raises(ModelUnavailable) as info:
            await model.request(HI)
        assert info.value.retryable and info.value.__cause__ is not None
        with pytest.raises(ModelUnavailable):
            await collect(model)


async def test_garbage_json(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(GarbageReply())
    with pytest.raises(ModelResponseError) as info:
        await model.request(HI)
    assert "invalid JSON" in info.value.message and info.value.__cause__ is not None


async def test_broken_sse(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(GarbageReply())
    seen: list[StreamEvent] = []
    with pytest.raises(ModelResponseError) as info:
        async for event in model.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("partial")]
    assert "invalid JSON in stream" in info.value.message


async def test_truncated_stream(server: FakeOpenAIServer, model: OpenAICompatibleModel) -> None:
    server.add(GarbageReply("truncate"))
    with pytest.raises(ModelResponseError, match="ended before"):
        await collect(model)


@pytest.mark.parametrize("stream", [False, True])
async def test_connection_cut_mid_body(
    server: FakeOpenAIServer, model: OpenAICompatibleModel, stream: bool
) -> None:
    server.add(GarbageReply("cut"))
    with pytest.raises(ModelResponseError, match="broke off"):
        if stream:
            await collect(model)
        else:
            await model.request(HI)
    server.add("fine again")
    assert (await model.request(HI)).message.text == "fine again"
