"""Stored events keep loading across the `invocation_id` -> `run_id` rename."""

from __future__ import annotations

import msgspec
import pytest

from agenthost.core import serde
from agenthost.core.events import Event
from agenthost.core.messages import Message


def test_an_event_round_trips_with_its_run_id() -> None:
    event = Event(id="e1", run_id="run_1", author="user", type="message.received")
    data = serde.encode(event)
    assert b'"run_id":"run_1"' in data and b"invocation_id" not in data
    assert serde.decode_event(data) == event
    assert event.invocation_id == "run_1"  # the deprecated name still reads


def test_events_stored_before_the_rename_still_load() -> None:
    old = (
        b'{"id":"e1","invocation_id":"run_old","author":"bot","type":"message.completed",'
        b'"message":{"role":"assistant","parts":[{"kind":"text","text":"hi"}]}}'
    )
    event = serde.decode_event(old)
    assert event.run_id == "run_old" and event.message == Message.assistant("hi")
    assert [e.run_id for e in serde.decode_events(b"[" + old + b"," + old + b"]")] == [
        "run_old",
        "run_old",
    ]
    assert serde.decode_event(old.decode()).run_id == "run_old"


def test_an_event_without_a_run_id_is_still_an_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="run_id"):
        serde.decode_event(b'{"id":"e1","author":"bot","type":"message.completed"}')
