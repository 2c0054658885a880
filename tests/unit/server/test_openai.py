"""The OpenAI-compatible API in process: shapes, sessions, streams, failures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from agenthost.core.events import Event
from agenthost.engine.runner import Runner
from agenthost.server import create_app

from .conftest import Gate, Users, make_runner, parse_sse, started


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "helper", "messages": [{"role": "user", "content": text}], **extra}


async def test_models(users: Users) -> None:
    r = await users.alice.get("/v1/models")
    assert r.json()["object"] == "list"
    assert [m["id"] for m in r.json()["data"]] == ["helper", "other"]
    one = await users.alice.get("/v1/models/other")
    assert one.json()["id"] == "other" and one.json()["object"] == "model"


async def test_chat_completion(users: Users) -> None:
    r = await users.alice.post("/v1/chat/completions", json=_chat("hi", temperature=0.2))
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "helper"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Echo: hi (#1 user messages seen)",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert r.headers["x-session-id"].startswith("s_")
    # no session id given: every call is a new session
    again = await users.alice.post("/v1/chat/completions", json=_chat("hi"))
    assert "(#1 user" in again.json()["choices"][0]["message"]["content"]
    assert again.headers["x-session-id"] != r.headers["x-session-id"]


async def test_sessions_continue_by_the_session_header(users: Users) -> None:
    headers = {"X-Session-Id": "conv-1"}
    await users.alice.post("/v1/chat/completions", json=_chat("one"), headers=headers)
    r = await users.alice.post("/v1/chat/completions", json=_chat("two"), headers=headers)
    assert "(#2 user messages seen)" in r.json()["choices"][0]["message"]["content"]
    # the same session over the native API
    events = (await users.alice.get("/v1/apps/helper/sessions/conv-1/events")).json()["events"]
    texts = [e["message"]["parts"][0]["text"] for e in events if e["type"] == "message.received"]
    assert texts == ["one", "two"]


async def test_user_is_an_end_user_id_not_a_session(
    users: Users, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenAI's `user` names the calling app's end user; it never picks a session."""
    with caplog.at_level(logging.INFO, "agenthost.server.runs"):
        first = await users.alice.post("/v1/chat/completions", json=_chat("a", user="conv-9"))
        second = await users.alice.post("/v1/chat/completions", json=_chat("b", user="conv-9"))
    assert "(#1 user" in second.json()["choices"][0]["message"]["content"]
    assert first.headers["x-session-id"] != second.headers["x-session-id"] != "conv-9"
    started = [r for r in caplog.records if r.getMessage() == "run started"]
    assert [getattr(r, "end_user", None) for r in started] == ["conv-9", "conv-9"]
    r = await users.alice.post(
        "/v1/responses", json={"model": "helper", "input": "c", "user": "end-user 42"}
    )
    assert r.status_code == 200 and r.headers["x-session-id"] != "end-user 42"
    sessions = (await users.alice.get("/v1/apps/helper/sessions")).json()["sessions"]
    assert "conv-9" not in [s["id"] for s in sessions]


async def test_chat_stream_with_usage(users: Users) -> None:
    r = await users.alice.post(
        "/v1/chat/completions",
        json=_chat("tool x", stream=True, stream_options={"include_usage": True}),
    )
    frames = parse_sse(r.text)
    assert frames[-1]["data"] == "[DONE]"
    chunks = [f["data"] for f in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Done: found x"  # tool calls are not streamed, the answer is
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 30
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_a_failed_run(users: Users) -> None:
    r = await users.alice.post("/v1/chat/completions", json=_chat("fail", stream=True))
    frames = parse_sse(r.text)
    assert frames[-2]["data"]["error"]["code"] == "model_http_error"
    assert frames[-1]["data"] == "[DONE]"
    r = await users.alice.post("/v1/chat/completions", json=_chat("fail"))
    assert r.status_code == 502 and r.json()["error"]["code"] == "model_http_error"
    assert r.headers["x-run-id"].startswith("run_")
    r = await users.alice.post("/v1/responses", json={"model": "helper", "input": "fail"})
    assert r.status_code == 502
    r = await users.alice.post(
        "/v1/responses", json={"model": "helper", "input": "fail", "stream": True}
    )
    kinds = [f["event"] for f in parse_sse(r.text)]
    assert kinds[-2:] == ["error", "response.failed"]


async def test_responses(users: Users) -> None:
    r = await users.alice.post(
        "/v1/responses",
        json={"model": "helper", "input": [{"role": "user", "content": "hello"}]},
    )
    body = r.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output_text"] == "Echo: hello (#1 user messages seen)"
    assert body["output"][0]["content"][0]["text"] == body["output_text"]
    assert body["usage"]["total_tokens"] == 15
    follow_up = await users.alice.post(
        "/v1/responses",
        json={
            "model": "helper",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "more"}]}],
            "previous_response_id": body["id"],
            "stream": True,
        },
    )
    frames = parse_sse(follow_up.text)
    kinds = [f["event"] for f in frames]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [f["data"]["sequence_number"] for f in frames] == list(range(len(frames)))
    done = frames[-1]["data"]["response"]
    assert done["output"][0]["content"][0]["text"] == "Echo: more (#2 user messages seen)"
    assert done["previous_response_id"] == body["id"]
    deltas = "".join(f["data"]["delta"] for f in frames if f["event"].endswith("text.delta"))
    assert deltas == "Echo: more (#2 user messages seen)"


class _CutRunner(Runner):
    """Marks every answer as cut mid-stream (`data.incomplete`), as the runner stores a reply
    whose model stream broke."""

    async def run(self, *args: Any, **kwargs: Any) -> AsyncIterator[Event]:  # type: ignore[override]
        async for event in super().run(*args, **kwargs):
            if event.type == "message.completed" and event.author != "user":
                data = {**(event.data or {}), "incomplete": True}
                event = msgspec.structs.replace(event, data=data)
            yield event


async def test_an_incomplete_reply_is_shown_as_incomplete(store: Any, gate: Gate) -> None:
    base = make_runner(store, "helper", gate)
    runner = _CutRunner(base.agent, store=store, app="test/helper")
    app = create_app({"helper": runner}, api_keys=[])
    async with started(app) as client:
        chat = (await client.post("/v1/chat/completions", json=_chat("hi"))).json()
        choice = chat["choices"][0]
        assert choice["message"]["incomplete"] is True
        assert choice["finish_reason"] == "stop"  # not "length": the model did not stop there
        body = {"model": "helper", "input": "hi"}
        response = (await client.post("/v1/responses", json=body)).json()
        assert [item["status"] for item in response["output"]] == ["incomplete"]
        native = await client.post("/v1/apps/helper/runs", json={"message": "hi", "stream": False})
        assert native.json()["incomplete"] is True
        streamed = await client.post("/v1/apps/helper/runs", json={"message": "hi"})
        [done] = [f for f in parse_sse(streamed.text) if f.get("event") == "message.completed"]
        assert done["data"]["data"]["incomplete"] is True
    plain = create_app({"helper": base}, api_keys=[])
    async with started(plain) as client:
        chat = (await client.post("/v1/chat/completions", json=_chat("hi"))).json()
        assert "incomplete" not in chat["choices"][0]["message"]
        native = await client.post("/v1/apps/helper/runs", json={"message": "hi", "stream": False})
        assert native.json()["incomplete"] is False
