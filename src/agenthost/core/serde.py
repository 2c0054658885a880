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


def decode_event(data: bytes | str) -> Event:
    return _event_decoder.decode(data)


def decode_events(data: bytes | str) -> list[Event]:
    return _events_decoder.decode(data)


def decode_message(data: bytes | str) -> Message:
    return _message_decoder.decode(data)


def to_builtins(value: Any) -> Any:
    """Plain dicts/lists (bytes as base64) for JSON output."""
    return msgspec.to_builtins(value)
