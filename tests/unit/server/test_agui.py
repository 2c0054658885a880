"""AG-UI (server/agui.py) in process: the events of a run, tool calls, state, messages,
errors, isolation and approvals as interrupts. Every frame is checked against the
`ag-ui-protocol` package's own event types. The official JS client: test_agui_js.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ag_ui.core import Event as AguiEvent
from pydantic import TypeAdapter

from agenthost.core.messages import Message
from agenthost.engine.function_tool import function_tool
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ToolSpec
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import FunctionModel, tool_call

from .conftest import Gate, Users, make_runner, parse_sse

EVENT = TypeAdapter(AguiEvent)


def run_input(text: str | None, thread: str = "t1", **extra: Any) -> dict[str, Any]:
    messages = [{"id": "m-old", "role": "user", "content": "ignored history"}]
    if text is not None:
        messages.append({"id": f"m-{len(text)}", "role": "user", "content": text})
    return {"threadId": thread, "runId": "client-run-1", "messages": messages, **extra}


def agui_events(text: str) -> list[dict[str, Any]]:
    events = [frame["data"] for frame in parse_sse(text)]
    for event in events:
        EVENT.validate_python(event)  # each one is an AG-UI event of the protocol package
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@function_tool(requires_approval=True)
def send(to: str, amount: int) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


async def pay(messages: list[Message], tools: list[ToolSpec]) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return f"Done: {last.parts[0].content}"  # type: ignore[union-attr]
    return tool_call("send", '{"to": "bob", "amount": 500}')


@pytest.fixture
def runners(store: SessionStore, gate: Gate) -> dict[str, Runner]:
    payer = LLMAgent(model=FunctionModel(pay, name="test:pay"), name="payer", tools=[send])
    return {
        "helper": make_runner(store, "helper", gate),
        "payer": Runner(payer, store=store, app="test/payer"),
    }


async def test_a_run_streams_as_agui_events(users: Users) -> None:
    r = await users.alice.post("/agui/helper", json=run_input("hello", state={"mood": "ok"}))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = agui_events(r.text)
    assert types(events) == [
        "RUN_STARTED",
        "STATE_SNAPSHOT",
        "MESSAGES_SNAPSHOT",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * (len(events) - 6),
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    started, snapshot, messages = events[:3]
    assert (started["threadId"], started["runId"]) == ("t1", "client-run-1")
    assert started["metadata"]["agenthost"]["run_id"] == r.headers["x-run-id"]
    assert snapshot["snapshot"] == {"mood": "ok"}  # the client's state, written to the session
    # the session is the truth: the client's older history is not imported
    assert [(m["role"], m["content"]) for m in messages["messages"]] == [("user", "hello")]
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text == "Echo: hello (#1 user messages seen)"
    finished = events[-1]
    assert finished["runId"] == "client-run-1" and finished["usage"][0]["inputTokens"] > 0
    session = await users.alice.get("/v1/apps/helper/sessions/t1")
    assert session.json()["state"] == {"mood": "ok"}

    again = agui_events((await users.alice.post("/agui/helper", json=run_input("more"))).text)
    history = again[2]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["content"] == "Echo: hello (#1 user messages seen)"
    assert again[1]["snapshot"] == {"mood": "ok"}


async def test_tool_calls_and_results(users: Users) -> None:
    events = agui_events((await users.alice.post("/agui/helper", json=run_input("tool x"))).text)
    kinds = types(events)
    start = kinds.index("TOOL_CALL_START")
    assert kinds[start : start + 4] == [
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
    ]
    call, args, _, result = events[start : start + 4]
    assert call["toolCallName"] == "lookup" and json.loads(args["delta"]) == {"query": "x"}
    assert result["toolCallId"] == call["toolCallId"] and result["content"] == "found x"
    assert kinds[-1] == "RUN_FINISHED"


async def test_a_failed_run_ends_with_run_error(users: Users) -> None:
    events = agui_events((await users.alice.post("/agui/helper", json=run_input("fail"))).text)
    assert types(events)[-1] == "RUN_ERROR"
    assert events[-1]["code"] == "model_http_error" and "scripted failure" in events[-1]["message"]


async def test_bad_input_is_a_4xx_naming_the_field(users: Users) -> None:
    no_thread = await users.alice.post("/agui/helper", json={"runId": "r", "messages": []})
    assert no_thread.status_code == 400
    assert no_thread.json()["error"]["field"] == "threadId"
    not_user = run_input(None)
    not_user["messages"].append({"id": "a", "role": "assistant", "content": "hi"})
    r = await users.alice.post("/agui/helper", json=not_user)
    assert r.status_code == 400 and r.json()["error"]["field"] == "messages.1.role"
    bad_thread = await users.alice.post("/agui/helper", json=run_input("x", thread="a b"))
    assert bad_thread.json()["error"]["field"] == "threadId"
    unknown = await users.alice.post("/agui/nope", json=run_input("x"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "agent_not_found"
    anonymous = await users.anonymous.post("/agui/helper", json=run_input("x"))
    assert anonymous.status_code == 401


async def test_threads_are_per_user_and_app_state_needs_an_admin(users: Users) -> None:
    await users.alice.post("/agui/helper", json=run_input("secret", thread="shared"))
    bob = agui_events((await users.bob.post("/agui/helper", json=run_input("hi", "shared"))).text)
    assert [m["content"] for m in bob[2]["messages"]] == ["hi"]  # bob's own thread
    forbidden = await users.bob.post("/agui/helper", json=run_input("x", state={"app:k": 1}))
    assert forbidden.status_code == 403 and forbidden.json()["error"]["field"] == "state"


async def test_an_approval_is_an_interrupt_and_resume_answers_it(users: Users) -> None:
    events = agui_events((await users.alice.post("/agui/payer", json=run_input("pay"))).text)
    finished = events[-1]
    assert finished["type"] == "RUN_FINISHED"
    [interrupt] = finished["outcome"]["interrupts"]
    assert finished["outcome"]["type"] == "interrupt"
    assert interrupt["reason"] == "tool_approval"
    call = next(e for e in events if e["type"] == "TOOL_CALL_START")
    assert interrupt["toolCallId"] == call["toolCallId"] and call["toolCallName"] == "send"

    resume = {
        "threadId": "t1",
        "runId": "client-run-2",
        "messages": [],
        "resume": [
            {"interruptId": interrupt["id"], "status": "resolved", "payload": {"approve": True}}
        ],
    }
    after = agui_events((await users.alice.post("/agui/payer", json=resume)).text)
    result = next(e for e in after if e["type"] == "TOOL_CALL_RESULT")
    assert result["content"] == "sent 500 to bob"
    assert after[-1]["type"] == "RUN_FINISHED" and "outcome" not in after[-1]
    text = "".join(e["delta"] for e in after if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text == "Done: sent 500 to bob"
    twice = await users.alice.post("/agui/payer", json=resume)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "approval_already_answered"
