"""The events of a tool round trip's results are made directly (engine/convert.py); each must
be the event the generic field table makes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from agenthost.core.events import Event
from agenthost.core.messages import Message, TextPart, ToolCallPart
from agenthost.core.session import SessionKey
from agenthost.core.usage import Usage
from agenthost.engine.convert import new_event, result_event, run_event, table_event
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
    return table_event(result, "r1", "agent", KEY)


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
def test_a_result_makes_the_event_the_field_table_makes(result: RunResult) -> None:
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
