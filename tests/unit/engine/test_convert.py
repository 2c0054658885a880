"""The events of a tool round trip's results are made directly (engine/convert.py); each must
be the event `new_event` makes from the result's fields."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from agenthost.core.events import ErrorInfo, Event
from agenthost.core.messages import Message, TextPart, ToolCallPart
from agenthost.core.session import SessionKey
from agenthost.core.state import scoped_key
from agenthost.core.usage import Usage
from agenthost.engine.convert import new_event, result_event, run_event
from agenthost.ports.protocol import (
    MessageCompleted,
    RunResult,
    StateUpdated,
    ToolCallCompleted,
    ToolCallStarted,
)

KEY = SessionKey("app", "user", "s1")
REPLY = Message(role="assistant", parts=(ToolCallPart(id="c1", name="t", arguments="{}"),))


def _generic(result: RunResult) -> Event | None:
    """The event spelled out field by field (what the field table made before)."""
    author, branch = getattr(result, "author", None) or "agent", getattr(result, "branch", None)
    if isinstance(result, MessageCompleted):
        data: dict[str, Any] | None = {"model": result.model} if result.model else None
        if result.incomplete:
            data = {**(data or {}), "incomplete": True}
        fields: dict[str, Any] = {"message": result.message, "usage": result.usage, "data": data}
        return new_event("message.completed", "r1", author, KEY, branch=branch, **fields)
    if isinstance(result, ToolCallStarted):
        data = {
            "tool_call_id": result.tool_call_id,
            "tool_name": result.tool_name,
            "parameters": result.parameters,
        }
        return new_event("tool.call.started", "r1", author, KEY, branch=branch, data=data)
    if isinstance(result, ToolCallCompleted):
        error = result.error
        return new_event(
            "tool.call.completed",
            "r1",
            author,
            KEY,
            branch=branch,
            message=result.tool_message(),
            data={"tool_call_id": result.tool_call_id, "tool_name": result.tool_name},
            error=ErrorInfo(code="tool_error", message=error) if error is not None else None,
        )
    assert isinstance(result, StateUpdated)
    return new_event(
        "state.updated", "r1", author, KEY, state_delta={scoped_key("session", "k"): 1}
    )


def _same(a: Event | None, b: Event | None) -> dict[str, Any]:
    assert a is not None and b is not None
    left, right = msgspec.structs.asdict(a), msgspec.structs.asdict(b)
    for field in ("id", "timestamp"):
        assert left.pop(field) and right.pop(field)
    assert left == right
    assert msgspec.json.encode(msgspec.structs.replace(a, id="x", timestamp=1.0)) == (
        msgspec.json.encode(msgspec.structs.replace(b, id="x", timestamp=1.0))
    )
    return left


RESULTS = [
    MessageCompleted(message=REPLY, usage=Usage(input_tokens=3, requests=1), model="m"),
    MessageCompleted(message=REPLY, usage=None, model=""),
    MessageCompleted(message=REPLY, model="m", incomplete=True, author="sub", branch="a.sub"),
    MessageCompleted(message=REPLY, incomplete=True),
    ToolCallStarted(tool_call_id="c1", tool_name="t", parameters='{"q": 1}'),
    ToolCallStarted(tool_call_id="c1", tool_name="t", parameters="{}", branch="p.w", author="w"),
    ToolCallCompleted.of("c1", "t", "result text"),
    ToolCallCompleted.of("c1", "t", "boom", error=True),
    StateUpdated(scope="session", key="k", value=1),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_a_result_makes_the_event_its_fields_describe(result: RunResult) -> None:
    made = result_event(result, "r1", "agent", KEY)
    fields = _same(made, _generic(result))
    assert fields["run_id"] == "r1" and fields["session_id"] == "s1"


def test_the_runner_s_events_are_new_event_s() -> None:
    message = Message(role="user", parts=(TextPart(text="hi"),))
    data = {"agent": "a"}
    for kwargs in (
        {"message": message, "data": data},
        {"usage": Usage(requests=1)},
        {"partial": True, "branch": "a.b"},
        {},
    ):
        _same(
            run_event("run.completed", "r1", "runner", KEY, **kwargs),
            new_event("run.completed", "r1", "runner", KEY, **kwargs),
        )
