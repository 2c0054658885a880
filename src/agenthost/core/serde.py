"""Encoding and decoding of core types (msgspec JSON)."""

from __future__ import annotations

from typing import Any

import msgspec

from agenthost.core.events import Event
from agenthost.core.messages import Message

_event_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_message_decoder = msgspec.json.Decoder(Message)
_events_decoder = msgspec.json.Decoder(list[Event])


def encode(value: Any) -> bytes:
    return _event_encoder.encode(value)


_LEGACY_FIELD = (b'"invocation_id":', b'"run_id":')  # the run id's name before 0.2


def _legacy(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return raw.replace(*_LEGACY_FIELD)


def decode_event(data: bytes | str) -> Event:
    """An event from JSON; one stored before `invocation_id` was renamed `run_id` too."""
    try:
        return _event_decoder.decode(data)
    except msgspec.ValidationError:
        if _LEGACY_FIELD[0] not in (data.encode() if isinstance(data, str) else data):
            raise
        return _event_decoder.decode(_legacy(data))


def decode_events(data: bytes | str) -> list[Event]:
    try:
        return _events_decoder.decode(data)
    except msgspec.ValidationError:
        if _LEGACY_FIELD[0] not in (data.encode() if isinstance(data, str) else data):
            raise
        return _events_decoder.decode(_legacy(data))


def decode_message(data: bytes | str) -> Message:
    return _message_decoder.decode(data)


def to_builtins(value: Any) -> Any:
    """Plain dicts/lists (bytes as base64) for JSON output."""
    return msgspec.to_builtins(value)
