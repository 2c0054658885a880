"""DifyAgent against a fake Dify speaking the real wire format, through the real Runner."""

from __future__ import annotations

from typing import Any

import pytest

from agenthost.backends.agents import DifyAgent
from agenthost.core.errors import ConfigError
from agenthost.core.events import Event
from agenthost.core.messages import ImagePart
from agenthost.core.usage import Usage
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore

from .conftest import check_streamed_hello, terminal, types
from .fake_platform import HANG, FakePlatform, Frame, Reply, data_frame

CHAT = "/v1/chat-messages"


def message(answer: str, **extra: Any) -> bytes:
    return data_frame(
        {
            "event": "message",
            "task_id": "t1",
            "message_id": "m1",
            "conversation_id": "c1",
            "answer": answer,
            "created_at": 1705398420,
            **extra,
        }
    )


def message_end(conversation_id: str = "c1", **usage: Any) -> bytes:
    return data_frame(
        {
            "event": "message_end",
            "task_id": "t1",
            "message_id": "m1",
            "conversation_id": conversation_id,
            "metadata": {
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 2,
                    "total_tokens": 12,
                    "total_price": "0.0001",
                    "currency": "USD",
                    "latency": 0.5,
                    **usage,
                },
                "retriever_resources": [],
            },
        }
    )


HELLO = Reply(frames=[message("Hel"), message("lo"), message_end()])


def agent(fake: FakePlatform, **kw: Any) -> DifyAgent:
    options: dict[str, Any] = {"base_url": fake.base_url + "/v1", "api_key": "app-test"}
    return DifyAgent(**{**options, **kw})


async def test_a_streamed_reply_with_usage(fake: FakePlatform, store: SessionStore) -> None:
    fake.add(CHAT, HELLO)
    async with Runner(agent(fake, inputs={"tone": "brief"}), store=store, app="t") as runner:
        events = await collect(
            runner.run("u1", "s1", "hi", config={"inputs": {"lang": "en"}}, run_id="r1")
        )
    check_streamed_hello(events, Usage(input_tokens=10, output_tokens=2, requests=1, cost=0.0001))
    data = terminal(events).data
    assert data is not None and data["cost"] == 0.0001
    # the request, as Dify wants it
    (call,) = fake.calls(CHAT)
    assert call.headers["Authorization"] == "Bearer app-test"
    assert call.body == {
        "query": "hi",
        "inputs": {"tone": "brief", "lang": "en"},
        "response_mode": "streaming",
        "user": "u1",
        "conversation_id": "",
        "auto_generate_name": True,
    }
    # the conversation id is in session state
    session = await runner.get_session("u1", "s1")
    assert session.state["dify.conversation_id"] == "c1"


async def test_a_forgotten_conversation_starts_a_new_one(
    fake: FakePlatform, store: SessionStore
) -> None:
    gone = {"code": "not_found", "message": "Conversation Not Exists.", "status": 404}
    fake.add(
        CHAT,
        HELLO,
        Reply(status=404, body=gone),
        Reply(frames=[message("new", conversation_id="c2"), message_end("c2")]),
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", "hi"))
        events = await collect(runner.run("u1", "s1", "again"))
        session = await runner.get_session("u1", "s1")
    assert terminal(events).type == "run.completed"
    assert [c.body["conversation_id"] for c in fake.calls(CHAT)] == ["", "c1", ""]
    assert session.state["dify.conversation_id"] == "c2"


async def test_agent_thoughts_become_tool_calls(fake: FakePlatform, store: SessionStore) -> None:
    thought = {
        "event": "agent_thought",
        "id": "th1",
        "task_id": "t1",
        "message_id": "m1",
        "position": 1,
        "thought": "",
        "tool": "weather;clock",
        "tool_input": '{"weather": {"city": "Paris"}, "clock": {"tz": "CET"}}',
        "observation": "",
        "message_files": [],
        "conversation_id": "c1",
    }
    observed = {
        **thought,
        "thought": "I will look it up",
        "observation": '{"weather": "sunny", "clock": {"time": "12:00"}}',
    }
    answer = {
        "event": "agent_message",
        "task_id": "t1",
        "message_id": "m1",
        "conversation_id": "c1",
        "answer": "Sunny, noon.",
    }
    image = {
        "event": "message_file",
        "id": "f1",
        "type": "image",
        "belongs_to": "assistant",
        "url": "/files/tools/chart.png?timestamp=1",
        "conversation_id": "c1",
    }
    frames = [data_frame(thought), data_frame(thought), data_frame(observed)]
    frames += [data_frame(answer), data_frame(image), message_end()]
    fake.add(CHAT, Reply(frames=frames))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "weather and time in Paris?"))
    assert types(events) == [
        "message.received",
        "state.updated",
        "tool.call.started",
        "tool.call.started",
        "tool.call.completed",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    started = [e.data for e in events if e.type == "tool.call.started"]
    assert started == [
        {"tool_call_id": "th1:weather", "tool_name": "weather", "parameters": '{"city":"Paris"}'},
        {"tool_call_id": "th1:clock", "tool_name": "clock", "parameters": '{"tz":"CET"}'},
    ]
    done = [e for e in events if e.type == "tool.call.completed"]
    assert [e.text for e in done] == ["sunny", '{"time":"12:00"}']
    assert done[0].data == {"tool_call_id": "th1:weather", "tool_name": "weather"}
    reply = events[-2].message
    assert reply is not None and reply.text == "Sunny, noon."
    assert reply.parts[1] == ImagePart(
        url=fake.base_url + "/files/tools/chart.png?timestamp=1", mime_type="image/png"
    )


async def test_message_replace_wins(fake: FakePlatform, store: SessionStore) -> None:
    replace = {"event": "message_replace", "task_id": "t1", "answer": "[removed]"}
    fake.add(CHAT, Reply(frames=[message("bad words"), data_frame(replace), message_end()]))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert final_text(events) == "[removed]"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (503, True)])
async def test_an_error_event_mid_stream(
    fake: FakePlatform, store: SessionStore, status: int, retryable: bool
) -> None:
    error = {
        "event": "error",
        "task_id": "t1",
        "message_id": "m1",
        "status": status,
        "code": "provider_quota_exceeded",
        "message": "Your quota of the model provider has been exhausted.",
    }
    fake.add(CHAT, Reply(frames=[message("Hel"), data_frame(error)]))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.type == "run.failed" and failed.error is not None
    assert failed.error.code == "platform.error"
    assert failed.error.retryable is retryable
    assert "provider_quota_exceeded" in failed.error.message
    assert "quota of the model provider has been exhausted" in failed.error.message
    assert not fake.calls("/v1/chat-messages/t1/stop")  # Dify ended it: nothing to stop


async def test_a_wrong_key_fails_with_dify_message_and_a_hint(
    fake: FakePlatform, store: SessionStore
) -> None:
    denied = {"code": "unauthorized", "message": "Access token is invalid", "status": 401}
    fake.add(CHAT, Reply(status=401, body=denied))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.type == "run.failed" and failed.error is not None
    assert failed.error.code == "platform.http_error"
    assert failed.error.retryable is False
    assert "HTTP 401" in failed.error.message
    assert "Access token is invalid" in failed.error.message
    assert "DIFY_API_KEY" in failed.error.message


async def test_a_stream_ending_early_is_retryable(fake: FakePlatform, store: SessionStore) -> None:
    fake.add(CHAT, Reply(frames=[message("Hel")]))  # no message_end
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.bad_response"
    assert failed.error.retryable is True


async def test_the_total_timeout_bounds_a_chatty_stream(
    fake: FakePlatform, store: SessionStore
) -> None:
    ping = data_frame({"event": "ping"})
    pings: list[Frame] = [ping, 0.05] * 100
    fake.add(CHAT, Reply(frames=[message("Hel"), *pings]))
    fake.add("/v1/chat-messages/t1/stop", Reply(body={"result": "success"}))
    async with Runner(agent(fake, timeout=0.4, idle_timeout=30.0), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.timeout"
    assert "within 0.4s" in failed.error.message


async def test_a_failed_stop_call_does_not_hold_up_the_run(
    fake: FakePlatform, store: SessionStore
) -> None:
    fake.add(CHAT, Reply(frames=[message("Hel"), HANG]))
    fake.add("/v1/chat-messages/t1/stop", Reply(before=HANG, body={"result": "success"}))
    events: list[Event] = []
    async with Runner(agent(fake, stop_timeout=0.2), store=store, app="t") as runner:
        async for event in runner.run("u1", "s1", "hi", run_id="r1"):
            events.append(event)
            if event.type == "message.delta":
                runner.cancel("r1")
    assert terminal(events).error is not None
    assert len(fake.calls("/v1/chat-messages/t1/stop")) == 1


async def test_attachments_go_as_remote_files(fake: FakePlatform, store: SessionStore) -> None:
    from agenthost.core.messages import Message, TextPart

    fake.add(CHAT, HELLO)
    msg = Message(
        role="user",
        parts=(TextPart(text="what is this?"), ImagePart(url="https://x.test/a.png")),
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        await collect(runner.run("u1", "s1", msg))
    (call,) = fake.calls(CHAT)
    assert call.body["files"] == [
        {"type": "image", "transfer_method": "remote_url", "url": "https://x.test/a.png"}
    ]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="DIFY_API_KEY"):
        DifyAgent()
    monkeypatch.setenv("DIFY_API_KEY", "app-env")
    monkeypatch.setenv("DIFY_BASE_URL", "http://dify.local/v1/")
    dify = DifyAgent(name="support")
    assert dify.api_key == "app-env"
    assert dify.base_url == "http://dify.local/v1"
    assert dify.state_key == "support.conversation_id"
    assert "app-env" not in repr(dify)
    assert DifyAgent(api_key="k").base_url == "http://dify.local/v1"
    monkeypatch.delenv("DIFY_BASE_URL")
    assert DifyAgent(api_key="k").base_url == "https://api.dify.ai/v1"
    with pytest.raises(ConfigError, match="user_from"):
        DifyAgent(api_key="k", user_from="nobody")  # type: ignore[arg-type]


def test_the_manifest() -> None:
    manifest = DifyAgent(api_key="k").manifest
    assert manifest.id == "agenthost:dify/dify"
    caps = manifest.capabilities
    assert caps.streaming and caps.stateful_session and caps.interrupt
    assert not caps.tool_calling


async def test_a_caller_going_away_stops_the_task(fake: FakePlatform, store: SessionStore) -> None:
    from contextlib import aclosing

    fake.add(CHAT, Reply(frames=[message("Hel"), HANG]))
    fake.add("/v1/chat-messages/t1/stop", Reply(body={"result": "success"}))
    async with Runner(agent(fake), store=store, app="t") as runner:
        async with aclosing(runner.run("u1", "s1", "hi")) as stream:
            async for event in stream:
                if event.type == "message.delta":
                    break
        session = await runner.get_session("u1", "s1")
    assert len(fake.calls("/v1/chat-messages/t1/stop")) == 1
    last = session.events[-1]
    assert last.type == "run.failed" and last.error is not None
    assert last.error.code == "cancelled"


async def test_an_unreachable_platform_is_retryable(store: SessionStore) -> None:
    # nothing listens; retries=0: the retry itself is the contract suite's
    dify = DifyAgent(base_url="http://127.0.0.1:9/v1", api_key="app-test", retries=0)
    async with Runner(dify, store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.unavailable"
    assert failed.error.retryable is True
    assert "127.0.0.1:9" in failed.error.message


async def test_garbage_in_the_stream_is_reported(fake: FakePlatform, store: SessionStore) -> None:
    fake.add(CHAT, Reply(frames=[message("Hel"), b"data: {not json\n\n"]))
    fake.add("/v1/chat-messages/t1/stop", Reply(body={"result": "success"}))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.bad_response"
    assert "not JSON" in failed.error.message
