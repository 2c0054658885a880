"""The embedded model for real: llama.cpp (xllamacpp) on SmolLM2-135M, about 5 s in all.

Skipped when xllamacpp or the model package is not installed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agenthost.config.schema import DEMO_INSTRUCTIONS
from agenthost.core.errors import AgentHostError
from agenthost.core.messages import Message, ToolResultPart
from agenthost.ports.models import (
    ChatModel,
    ModelSettings,
    ResponseDone,
    TextDelta,
    ToolCallDelta,
)

pytestmark = pytest.mark.integration

try:
    from agenthost.backends.models.local import LocalModel, make_local_model, running_servers
    from agenthost.backends.tools.demo import demo_tool_specs, get_weather

    make_local_model("smollm2")
except (ImportError, AgentHostError) as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"the local model is not installed: {exc}", allow_module_level=True)

WEATHER_QUESTION = "What's the weather like in Paris today?"
SHORT = ModelSettings(max_tokens=40)


@pytest.fixture
async def model() -> AsyncIterator[LocalModel]:
    async with make_local_model("smollm2", seed=1) as opened:
        yield opened


async def test_it_is_a_chat_model(model: LocalModel) -> None:
    assert isinstance(model, ChatModel)
    assert model.name == "local:smollm2"


async def test_a_text_answer_streams(model: LocalModel) -> None:
    events = [e async for e in model.stream([Message.user("Say hello.")], settings=SHORT)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    done = events[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.message.text == "".join(d.text for d in deltas)
    assert done.response.message.text.strip()
    assert done.response.usage.input_tokens > 0 and done.response.usage.output_tokens > 0
    assert done.response.model == "local:smollm2"


async def test_a_tool_question_gets_a_tool_call_then_a_text_answer(model: LocalModel) -> None:
    tools = demo_tool_specs()
    messages = [Message.user(WEATHER_QUESTION)]
    response = await model.request(messages, tools=tools)
    assert response.finish_reason == "tool_calls"
    (call,) = response.message.tool_calls
    assert call.name == "get_weather"
    assert call.id.startswith("call_")
    arguments = call.parsed_arguments()
    assert set(arguments) == {"city"} and isinstance(arguments["city"], str)
    assert "paris" in arguments["city"].lower()
    assert response.usage.requests >= 2  # at least one vote and the arguments

    result = await get_weather(**arguments)
    messages += [
        response.message,
        Message.tool(ToolResultPart(tool_call_id=call.id, name=call.name, content=result)),
    ]
    answer = await model.request(messages, tools=tools, settings=SHORT)
    assert answer.finish_reason in ("stop", "length")
    assert not answer.message.tool_calls
    assert answer.message.text.strip()


async def test_a_streamed_tool_call_is_one_delta_then_done(model: LocalModel) -> None:
    events = [
        e async for e in model.stream([Message.user(WEATHER_QUESTION)], tools=demo_tool_specs())
    ]
    assert len(events) == 2
    delta, done = events
    assert isinstance(delta, ToolCallDelta) and isinstance(done, ResponseDone)
    (call,) = done.response.message.tool_calls
    assert (delta.id, delta.name, delta.arguments) == (call.id, call.name, call.arguments)


async def test_tool_choice_none_and_a_forced_tool(model: LocalModel) -> None:
    tools = demo_tool_specs()
    plain = await model.request(
        [Message.user(WEATHER_QUESTION)],
        tools=tools,
        settings=ModelSettings(tool_choice="none", max_tokens=20),
    )
    assert not plain.message.tool_calls
    forced = await model.request(
        [Message.user("17 times 23?")],
        tools=tools,
        settings=ModelSettings(tool_choice="calculator"),
    )
    (call,) = forced.message.tool_calls
    assert call.name == "calculator"
    assert forced.usage.requests == 1  # no vote, only the arguments


async def test_models_of_one_file_share_a_server_that_stops_on_close() -> None:
    first, second = make_local_model("smollm2"), make_local_model("smollm2")
    assert running_servers() == 0
    async with first, second:
        await first.start()
        await second.start()
        assert running_servers() == 1
        assert first.base_url == second.base_url
        assert first.base_url is not None and first.base_url.startswith("http://127.0.0.1:")
        await first.aclose()
        assert running_servers() == 1  # the second still uses it
    assert running_servers() == 0


async def test_a_looping_reply_is_stopped_and_marked_cut(model: LocalModel) -> None:
    """At temperature 0 SmolLM2 answers "Tell me a joke" with one line said again and again:
    the stream stops within a few copies instead of running to the cap."""
    messages = [Message.system("You are a helpful assistant."), Message.user("Tell me a joke")]
    events = [e async for e in model.stream(messages, settings=ModelSettings(temperature=0.0))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    done = events[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.finish_reason == "length"
    assert len(deltas) < model.reply_tokens
    text = done.response.message.text
    assert text and "".join(d.text for d in deltas).startswith(text)
    assert text.count("drinks too much") == 1  # the loop is cut down to one copy


async def test_a_near_loop_is_stopped_early(model: LocalModel) -> None:
    """With the demo agent's instructions SmolLM2 answers "Tell me a joke" at temperature 0
    with a counter of letters, A: "A: "A: "B: "C: "D: ..., which no copy repeats exactly: it
    is stopped about 64 characters in (it used to run on to "Z: "Z: "..., about 170)."""
    messages = [Message.system(DEMO_INSTRUCTIONS), Message.user("Tell me a joke")]
    settings = ModelSettings(temperature=0.0)
    events = [e async for e in model.stream(messages, tools=demo_tool_specs(), settings=settings)]
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = events[-1]
    assert isinstance(done, ResponseDone)
    assert done.response.finish_reason == "length"
    assert 'A: "B: "C: "' in streamed and len(streamed) < 100
    assert streamed.startswith(done.response.message.text)


async def test_a_plain_reply_is_capped_and_marked_cut() -> None:
    async with make_local_model("smollm2", seed=1, reply_tokens=8) as capped:
        reply = await capped.request([Message.user("Write a long story about the sea.")])
    assert reply.finish_reason == "length"
    assert reply.usage.output_tokens == 8


async def test_the_prompt_cache_outlives_the_server(tmp_path: Path) -> None:
    """A server saves its slots when it stops; the next one (another process in real use)
    starts with them restored and answers the same."""
    messages = [Message.user("Name three colours.")]
    settings = ModelSettings(temperature=0.0, max_tokens=12)
    async with make_local_model("smollm2", prompt_cache=str(tmp_path)) as first:
        before = await first.request(messages, settings=settings)
        assert first.restored_tokens == 0  # nothing saved yet
    (folder,) = os.listdir(tmp_path)
    saved = sorted(os.listdir(tmp_path / folder))
    assert saved and all(name.startswith("slot") and name.endswith(".bin") for name in saved)
    async with make_local_model("smollm2", prompt_cache=str(tmp_path)) as second:
        after = await second.request(messages, settings=settings)
        assert second.restored_tokens >= before.usage.input_tokens
    assert after.message.text == before.message.text


async def test_no_prompt_cache_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    async with make_local_model("smollm2", prompt_cache=False) as model:
        await model.request([Message.user("Hi")], settings=ModelSettings(max_tokens=4))
    assert os.listdir(tmp_path) == []
