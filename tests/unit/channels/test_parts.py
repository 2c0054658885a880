"""Validation, splitting, routing and webhook signatures."""

from __future__ import annotations

import pytest

from agenthost.channels import MessageLimits, Route, split_text
from agenthost.channels.routing import Router
from agenthost.channels.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from agenthost.channels.validation import validate
from agenthost.core.errors import InvalidMessage
from agenthost.ports.channels import Attachment, InboundMessage


def m(**kw: object) -> InboundMessage:
    base: dict[str, object] = {"id": "1", "conversation": "c", "text": "hi"}
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (m(text=""), "text"),
        (m(text="a\x00b"), "text"),
        (m(text="x" * 11), "text"),
        (m(id=""), "id"),
        (m(conversation="c" * 300), "conversation"),
        (
            m(attachments=(Attachment(url="https://x/a.png", mime_type="image/png"),) * 3),
            "attachments",
        ),
        (
            m(attachments=(Attachment(url="file:///etc/passwd", mime_type="image/png"),)),
            "attachments[0].url",
        ),
        (
            m(attachments=(Attachment(data=b"x" * 101, mime_type="image/png"),)),
            "attachments[0].size",
        ),
        (
            m(attachments=(Attachment(url="https://x/a.exe", mime_type="application/x-exe"),)),
            "attachments[0].mime_type",
        ),
        (m(attachments=(Attachment(mime_type="image/png"),)), "attachments[0]"),
    ],
)
def test_invalid_messages_name_the_field(message: InboundMessage, field: str) -> None:
    limits = MessageLimits(max_text_chars=10, max_attachments=2, max_attachment_bytes=100)
    with pytest.raises(InvalidMessage) as info:
        validate(message, limits)
    assert info.value.field == field and info.value.code == "invalid_message"


def test_a_file_without_text_is_valid() -> None:
    message = m(text="", attachments=(Attachment(url="https://x/a.png", mime_type="image/png"),))
    assert validate(message, MessageLimits()) is message


def test_split_text_cuts_at_boundaries() -> None:
    assert split_text("short", 10) == ["short"]
    assert split_text("para one.\n\npara two is longer", 16) == [
        "para one.",
        "para two is",
        "longer",
    ]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert all(len(p) <= 50 for p in split_text("word " * 200, 50))


def test_router_origin_routes_and_reply_to() -> None:
    router = Router(
        [
            Route(inputs=("cron",), outputs=("x", "slack"), target="C1", origin=False),
            Route(outputs=("log",)),
        ],
        inputs=["cron", "tg", "web"],
        outputs=["tg", "x", "slack", "log", "hook"],
        reply_to={"web": "hook"},
    )
    cron = m(input="cron", conversation="daily")
    assert router.targets(cron) == [("x", "C1"), ("slack", "C1"), ("log", "daily")]
    assert router.targets(m(input="tg", conversation="chat")) == [("tg", "chat"), ("log", "chat")]
    assert router.targets(m(input="web", conversation="c")) == [("hook", "c"), ("log", "c")]


def test_signatures() -> None:
    body = b'{"id":"1"}'
    headers = sign("s3cret", body, now=1000)
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify("s3cret", headers, body, now=1010) is None
    assert verify("other", headers, body, now=1010) == "the signature does not match"
    assert verify("s3cret", headers, body + b" ", now=1010) == "the signature does not match"
    assert "replay" in (verify("s3cret", headers, body, now=2000) or "")
    assert "missing" in (verify("s3cret", {TIMESTAMP_HEADER: "1000"}, body, now=1000) or "")
