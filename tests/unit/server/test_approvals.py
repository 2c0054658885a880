"""Approvals over the native API: the pause in a run's stream, the pending list, answers
(SSE and JSON), and the refusals with their status and code."""

from __future__ import annotations

from typing import Any

import pytest

from agenthost.core.messages import Message
from agenthost.engine.function_tool import function_tool
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ToolSpec
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import FunctionModel, tool_call

from .conftest import Gate, Users, event_types, parse_sse

SENT: list[dict[str, Any]] = []


@function_tool(requires_approval=True)
def send(to: str, amount: int) -> str:
    """Send money."""
    SENT.append({"to": to, "amount": amount})
    return f"sent {amount} to {to}"


async def reply(messages: list[Message], tools: list[ToolSpec]) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return f"Done: {last.parts[0].content}"  # type: ignore[union-attr]
    return tool_call("send", '{"to": "bob", "amount": 500}')


@pytest.fixture
def runners(store: SessionStore, gate: Gate) -> dict[str, Runner]:
    SENT.clear()
    agent = LLMAgent(model=FunctionModel(reply, name="test:pay"), name="payer", tools=[send])
    return {"payer": Runner(agent, store=store, app="test/payer")}


async def paused_run(users: Users) -> tuple[str, str]:
    r = await users.alice.post("/v1/apps/payer/runs", json={"message": "pay bob"})
    frames = parse_sse(r.text)
    assert event_types(frames)[-2:] == ["approval.requested", "run.completed"]
    assert frames[-1]["data"]["data"]["status"] == "paused"
    request = frames[-2]["data"]["data"]
    assert request["tool_name"] == "send"
    return request["approval_id"], r.headers["x-session-id"]


async def test_pending_list_and_approve_with_edited_arguments(users: Users) -> None:
    approval_id, session_id = await paused_run(users)
    listed = (await users.alice.get("/v1/apps/payer/approvals")).json()["approvals"]
    assert [a["approval_id"] for a in listed] == [approval_id]
    assert listed[0]["session_id"] == session_id and listed[0]["tool_name"] == "send"
    assert (await users.bob.get("/v1/apps/payer/approvals")).json()["approvals"] == []
    one = await users.alice.get(f"/v1/apps/payer/approvals?session_id={session_id}")
    assert [a["approval_id"] for a in one.json()["approvals"]] == [approval_id]

    r = await users.alice.post(
        f"/v1/apps/payer/approvals/{approval_id}",
        json={"approve": True, "arguments": {"to": "bob", "amount": 50}},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-session-id"] == session_id
    frames = parse_sse(r.text)
    types = event_types(frames)
    assert types[:3] == ["approval.answered", "tool.call.started", "tool.call.completed"]
    assert types[-1] == "run.completed" and frames[-1]["data"]["data"]["status"] == "completed"
    assert frames[0]["data"]["run_id"] == r.headers["x-run-id"]
    assert SENT == [{"to": "bob", "amount": 50}]
    runs = (await users.alice.get(f"/v1/apps/payer/sessions/{session_id}")).json()["runs"]
    assert [run["status"] for run in runs] == ["paused", "completed"]
    assert (await users.alice.get("/v1/apps/payer/approvals")).json()["approvals"] == []


async def test_reject_without_a_stream(users: Users) -> None:
    approval_id, _ = await paused_run(users)
    r = await users.alice.post(
        f"/v1/apps/payer/approvals/{approval_id}",
        json={"approve": False, "message": "not today", "stream": False},
    )
    body = r.json()
    assert r.status_code == 200 and body["status"] == "completed"
    assert "rejected" in body["output"] and "not today" in body["output"]
    assert SENT == []


async def test_refusals(users: Users) -> None:
    approval_id, _ = await paused_run(users)
    bob = await users.bob.post(f"/v1/apps/payer/approvals/{approval_id}", json={"approve": True})
    assert bob.status_code == 403
    assert bob.json()["error"]["code"] == "approval_forbidden"
    assert bob.json()["error"]["field"] == "approval_id"
    missing = await users.alice.post("/v1/apps/payer/approvals/nope", json={"approve": True})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "approval_not_found"
    bad = await users.alice.post(f"/v1/apps/payer/approvals/{approval_id}", json={"ok": 1})
    assert bad.status_code == 422
    rejecting_with_args = await users.alice.post(
        f"/v1/apps/payer/approvals/{approval_id}",
        json={"approve": False, "arguments": {"to": "x"}},
    )
    assert rejecting_with_args.status_code == 400
    assert rejecting_with_args.json()["error"]["field"] == "arguments"

    first = await users.alice.post(
        f"/v1/apps/payer/approvals/{approval_id}", json={"approve": True, "stream": False}
    )
    assert first.status_code == 200
    twice = await users.alice.post(
        f"/v1/apps/payer/approvals/{approval_id}", json={"approve": True}
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "approval_already_answered"
    assert SENT == [{"to": "bob", "amount": 500}]

    # a new message expires a pending approval: answering it then is refused
    again_id, again_session = await paused_run(users)
    await users.alice.post(
        f"/v1/apps/payer/sessions/{again_session}/runs", json={"message": "hi", "stream": False}
    )
    late = await users.alice.post(f"/v1/apps/payer/approvals/{again_id}", json={"approve": True})
    assert late.status_code == 409 and late.json()["error"]["code"] == "approval_run_finished"
    assert len(SENT) == 1


async def test_the_openai_api_ends_the_reply_with_a_note(users: Users) -> None:
    r = await users.alice.post(
        "/v1/chat/completions",
        json={"model": "payer", "messages": [{"role": "user", "content": "pay bob"}]},
    )
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["message"]["content"]
    [pending] = (await users.alice.get("/v1/apps/payer/approvals")).json()["approvals"]
    assert text.startswith("[waiting for approval: send ")
    assert f"agenthost approve {pending['approval_id']}" in text
    stream = await users.alice.post(
        "/v1/chat/completions",
        json={"model": "payer", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    )
    assert "waiting for approval" in stream.text and stream.text.endswith("data: [DONE]\n\n")


def test_a2a_maps_a_paused_run_to_input_required() -> None:
    pytest.importorskip("a2a")
    from a2a.types import TaskState

    from agenthost.core.events import Event
    from agenthost.server.a2a._convert import terminal_state, terminal_status

    def end(status: str) -> Event:
        data = {"status": status}
        return Event(id="e", run_id="r", author="runner", type="run.completed", data=data)

    paused, done = end("paused"), end("completed")
    assert terminal_state(paused) == TaskState.TASK_STATE_INPUT_REQUIRED
    assert terminal_state(done) == TaskState.TASK_STATE_COMPLETED
    status = terminal_status(paused, task_id="r", context_id="s")
    assert "approval" in status.message.parts[0].text
