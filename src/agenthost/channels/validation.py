"""Every incoming message is checked here before it reaches an agent.

`MessageLimits` says what is allowed; `validate(message, limits)` returns the message (its
text stripped of NUL bytes is NOT done: a NUL is an error) or raises InvalidMessage naming the
field. The runtime turns that into the input's answer (`invalid: ...`, a 400 on the webhook)
and a log line; it never reaches the agent and never crashes the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agenthost.core.errors import InvalidMessage
from agenthost.ports.channels import InboundMessage

_ID_MAX = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageLimits:
    """`max_text_chars` per message; `max_attachments` and `max_attachment_bytes` (each,
    when the size is known or the data is inline); `attachment_types`: allowed MIME type
    prefixes (`image/`, `application/pdf`); empty allows every type. `allow_empty_text`:
    a message with attachments and no text is accepted."""

    max_text_chars: int = 16_000
    max_attachments: int = 8
    max_attachment_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = field(default=("image/", "text/", "application/pdf"))
    allow_empty_text: bool = True


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > _ID_MAX or "\x00" in value:
        raise InvalidMessage(
            name, f"must be a non-empty string of at most {_ID_MAX} characters, got {value!r}"
        )


def validate(message: InboundMessage, limits: MessageLimits) -> InboundMessage:
    """`message` when it is acceptable, else InvalidMessage naming the field."""
    _check_id("id", message.id)
    _check_id("conversation", message.conversation)
    if not isinstance(message.sender, str) or len(message.sender) > _ID_MAX:
        raise InvalidMessage("sender", f"must be a string of at most {_ID_MAX} characters")
    text = message.text
    if not isinstance(text, str):
        raise InvalidMessage("text", f"must be a string, got {type(text).__name__}")
    if "\x00" in text:
        raise InvalidMessage("text", "contains a NUL character")
    if len(text) > limits.max_text_chars:
        raise InvalidMessage(
            "text", f"has {len(text)} characters; at most {limits.max_text_chars} are allowed"
        )
    attachments = message.attachments
    if not text.strip() and not (attachments and limits.allow_empty_text):
        raise InvalidMessage("text", "is empty")
    if len(attachments) > limits.max_attachments:
        raise InvalidMessage(
            "attachments",
            f"has {len(attachments)} files; at most {limits.max_attachments} are allowed",
        )
    for index, item in enumerate(attachments):
        where = f"attachments[{index}]"
        if (item.url is None) == (item.data is None):
            raise InvalidMessage(where, "needs exactly one of url and data")
        if item.url is not None and not item.url.startswith(("https://", "http://")):
            raise InvalidMessage(f"{where}.url", f"must be an http(s) URL, got {item.url!r}")
        size = len(item.data) if item.data is not None else item.size
        if size is not None and size > limits.max_attachment_bytes:
            raise InvalidMessage(
                f"{where}.size",
                f"is {size} bytes; at most {limits.max_attachment_bytes} are allowed",
            )
        types = limits.attachment_types
        if types and not item.mime_type.startswith(types):
            raise InvalidMessage(
                f"{where}.mime_type",
                f"{item.mime_type!r} is not allowed; allowed: {', '.join(types)}",
            )
    return message
