"""CozeAgent against a fake Coze speaking the real wire format, through the real Runner."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agenthost.backends.agents import CozeAgent
from agenthost.backends.agents.coze import CN_BASE_URL
from agenthost.core.errors import ConfigError
from agenthost.core.usage import Usage
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore

from .conftest import check_streamed_hello, terminal, types
from .fake_platform import FakePlatform, Reply, event_frame

CHAT = "/v3/chat"
SUBMIT = "/v3/chat/submit_tool_outputs"
CANCEL = "/v3/chat/cancel"
IDS = {"conversation_id": "conv1", "bot_id": "b1"}


def chat(event: str, status: str, **extra: Any) -> bytes:
    return event_frame(
        f"conversation.chat.{event}", {"id": "chat1", **IDS, "status": status, **extra}
    )


def msg(event: str, content: str, type: str = "answer", **extra: Any) -> bytes:
    payload = {
        "id": extra.pop("id", "msg1"),
        **IDS,
        "chat_id": "chat1",
        "role": "assistant",
        "type": type,
        "content": content,
        "content_type": "text",
        **extra,
    }
    return event_frame(f"conversation.message.{event}", payload)


USAGE = {"token_count": 30, "output_count": 10, "input_count": 20}
DONE = event_frame("done", "[DONE]")
COMPLETED = chat("completed", "completed", usage=USAGE)
HELLO = Reply(
    frames=[
        chat("created", "created"),
        chat("in_progress", "in_progress"),
        msg("delta", "Hel"),
        msg("delta", "lo"),
        msg("completed", "Hello"),
        msg("completed", '{"msg_type":"generate_answer_finish"}', type="verbose", id="v1"),
        COMPLETED,
        DONE,
    ]
)


def agent(fake: FakePlatform, **kw: Any) -> CozeAgent:
    options: dict[str, Any] = {"base_url": fake.base_url, "api_key": "pat-test", "bot_id": "b1"}
    return CozeAgent(**{**options, **kw})


def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city name
    """
    return f"sunny in {city}"


async def test_a_streamed_reply_with_usage(fake: FakePlatform, store: SessionStore) -> None:
    fake.add(CHAT, HELLO)
    async with Runner(agent(fake, custom_variables={"tone": "brief"}), store=store, app="t") as r:
        events = await collect(r.run("u1", "s1", "hi"))
        session = await r.get_session("u1", "s1")
    check_streamed_hello(events, Usage(input_tokens=20, output_tokens=10, requests=1))
    assert session.state["coze.conversation_id"] == "conv1"
    (call,) = fake.calls(CHAT)
    assert call.query == {}
    assert call.headers["Authorization"] == "Bearer pat-test"
    assert call.body == {
        "bot_id": "b1",
        "user_id": "u1",
        "stream": True,
        "auto_save_history": True,
        "additional_messages": [
            {"role": "user", "type": "question", "content": "hi", "content_type": "text"}
        ],
        "custom_variables": {"tone": "brief"},
    }


async def test_an_unknown_conversation_starts_a_new_one(
    fake: FakePlatform, store: SessionStore
) -> None:
    fake.add(
        CHAT,
        HELLO,
        Reply(body={"code": 4002, "msg": "invalid conversation"}),  # HTTP 200, as Coze does
        HELLO,
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "hi"))
        events = await collect(runner.run("u1", "s1", "again"))
    assert terminal(events).type == "run.completed"
    assert [c.query for c in fake.calls(CHAT)] == [{}, {"conversation_id": "conv1"}, {}]


async def test_requires_action_is_answered_by_our_tool(
    fake: FakePlatform, store: SessionStore
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}}
    fake.add(
        CHAT,
        Reply(
            frames=[
                chat("created", "created"),
                chat("requires_action", "requires_action", required_action=required),
                DONE,
            ]
        ),
    )
    fake.add(
        SUBMIT,
        Reply(
            frames=[
                chat("in_progress", "in_progress"),
                msg("delta", "It is sunny."),
                msg("completed", "It is sunny."),
                COMPLETED,
                DONE,
            ]
        ),
    )
    async with Runner(agent(fake, tools=[get_weather]), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "weather in Paris?"))
    assert types(events) == [
        "message.received",
        "state.updated",
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    started = next(e for e in events if e.type == "tool.call.started")
    assert started.data == {
        "tool_call_id": "call_1",
        "tool_name": "get_weather",
        "parameters": '{"city": "Paris"}',
    }
    completed = next(e for e in events if e.type == "tool.call.completed")
    assert completed.text == "sunny in Paris" and completed.error is None
    assert final_text(events) == "It is sunny."
    (submit,) = fake.calls(SUBMIT)
    assert submit.query == {"conversation_id": "conv1", "chat_id": "chat1"}
    assert submit.body == {
        "tool_outputs": [{"tool_call_id": "call_1", "output": "sunny in Paris"}],
        "stream": True,
    }


async def test_an_unknown_tool_is_reported_back_to_the_bot(
    fake: FakePlatform, store: SessionStore
) -> None:
    call = {"id": "c9", "type": "function", "function": {"name": "nope", "arguments": "{}"}}
    required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}}
    fake.add(
        CHAT,
        Reply(frames=[chat("requires_action", "requires_action", required_action=required), DONE]),
    )
    fake.add(SUBMIT, Reply(frames=[msg("completed", "Sorry."), COMPLETED, DONE]))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert terminal(events).type == "run.completed"
    completed = next(e for e in events if e.type == "tool.call.completed")
    assert completed.error is not None
    (submit,) = fake.calls(SUBMIT)
    output = submit.body["tool_outputs"][0]["output"]
    assert output.startswith("error:") and "nope" in output


async def test_coze_side_tool_calls_are_reported(fake: FakePlatform, store: SessionStore) -> None:
    function_call = orjson.dumps(
        {"name": "search", "arguments": {"q": "weather"}, "plugin_id": 7}
    ).decode()
    fake.add(
        CHAT,
        Reply(
            frames=[
                chat("created", "created"),
                msg("completed", function_call, type="function_call", id="fc1"),
                msg("completed", "sunny", type="tool_output", id="to1"),
                msg("delta", "Sunny."),
                msg("completed", "Sunny."),
                msg("completed", "Anything else?", type="follow_up", id="fu1"),
                COMPLETED,
                DONE,
            ]
        ),
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "weather?"))
    assert types(events)[2:] == [
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    started = next(e for e in events if e.type == "tool.call.started")
    assert started.data == {
        "tool_call_id": "fc1",
        "tool_name": "search",
        "parameters": '{"q":"weather"}',
    }
    completed = next(e for e in events if e.type == "tool.call.completed")
    assert completed.text == "sunny" and completed.data == {
        "tool_call_id": "fc1",
        "tool_name": "search",
    }
    assert final_text(events) == "Sunny."


@pytest.mark.parametrize(("code", "retryable"), [(4011, False), (4013, True)])
async def test_a_failed_chat(
    fake: FakePlatform, store: SessionStore, code: int, retryable: bool
) -> None:
    error = {"code": code, "msg": "something went wrong"}
    fake.add(
        CHAT,
        Reply(
            frames=[
                chat("created", "created"),
                msg("delta", "Hel"),
                chat("failed", "failed", last_error=error),
                DONE,
            ]
        ),
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.error"
    assert failed.error.retryable is retryable
    assert f"code {code}" in failed.error.message and "something went wrong" in failed.error.message
    assert not fake.calls(CANCEL)


async def test_an_error_event(fake: FakePlatform, store: SessionStore) -> None:
    fake.add(
        CHAT,
        Reply(
            frames=[
                chat("created", "created"),
                event_frame("error", {"code": 5000, "msg": "internal"}),
            ]
        ),
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.error"
    assert failed.error.retryable is True and "internal" in failed.error.message


@pytest.mark.parametrize("status", [200, 401])
async def test_a_wrong_token_fails_with_coze_message_and_a_hint(
    fake: FakePlatform, store: SessionStore, status: int
) -> None:
    fake.add(CHAT, Reply(status=status, body={"code": 4100, "msg": "authentication is invalid"}))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.http_error"
    assert failed.error.retryable is False
    assert "code 4100" in failed.error.message
    assert "authentication is invalid" in failed.error.message
    assert "COZE_API_KEY" in failed.error.message


async def test_images_go_as_an_object_string(fake: FakePlatform, store: SessionStore) -> None:
    from agenthost.core.messages import ImagePart, Message, TextPart

    fake.add(CHAT, HELLO)
    message = Message(
        role="user", parts=(TextPart(text="what?"), ImagePart(url="https://x.test/a.png"))
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", message))
    sent = fake.calls(CHAT)[0].body["additional_messages"][0]
    assert sent["content_type"] == "object_string"
    assert orjson.loads(sent["content"]) == [
        {"type": "text", "text": "what?"},
        {"type": "image", "file_url": "https://x.test/a.png"},
    ]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="COZE_API_KEY"):
        CozeAgent(bot_id="b1")
    with pytest.raises(ConfigError, match="COZE_BOT_ID"):
        CozeAgent(api_key="pat")
    monkeypatch.setenv("COZE_API_KEY", "pat-env")
    monkeypatch.setenv("COZE_BOT_ID", "b-env")
    coze = CozeAgent()
    assert (coze.api_key, coze.bot_id, coze.base_url) == (
        "pat-env",
        "b-env",
        "https://api.coze.com",
    )
    monkeypatch.setenv("COZE_BASE_URL", CN_BASE_URL)
    assert CozeAgent().base_url == "https://api.coze.cn"
    # a wrong user_from is named before anything else is checked
    with pytest.raises(ConfigError, match="Coze agent: user_from must be"):
        CozeAgent(api_key=None, user_from="nobody")  # type: ignore[arg-type]
    assert CozeAgent(user_from="session_id").user_from == "session_id"


def test_the_manifest_and_catalog() -> None:
    coze = CozeAgent(api_key="pat", bot_id="b1", tools=[get_weather])
    caps = coze.manifest.capabilities
    assert caps.tool_calling and caps.streaming and caps.stateful_session and caps.interrupt
    assert coze.manifest.permissions.tools
    assert list(coze.catalog().tools) == ["get_weather"]
