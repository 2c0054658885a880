"""From run events to what the OpenAI APIs show: the assistant's text, step by step, and
the user message taken from OpenAI-style input.

A run may take several model steps (text, tool calls, more text). `TextSteps` turns its events
into open / delta / close actions, one open..close per step that has text, whether the model
streamed deltas or not. Tool calls are not shown: the agent runs its tools itself, and an
OpenAI client seeing `tool_calls` would think it must run them (the native API has them all).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from agenthost.core.errors import InvalidArgument
from agenthost.core.events import Event
from agenthost.core.messages import FilePart, ImagePart, Message, Part, TextPart
from agenthost.core.usage import Usage
from agenthost.server._attachments import check_remote_url, data_url, decode_base64, guess_mime

Action = tuple[Literal["open", "delta", "close"], str]
STEP_SEPARATOR = "\n\n"
_SESSION_ID = re.compile(r"[A-Za-z0-9._:@+=-]{1,256}")


class TextSteps:
    def __init__(self) -> None:
        self.texts: list[str] = []  # the text of every closed step
        # per closed step: its stored message.completed says `data.incomplete` (the reply was
        # cut mid-stream: what was received is kept, marked)
        self.incomplete: list[bool] = []
        self._open = False
        self._buffer: list[str] = []

    @property
    def text(self) -> str:
        """All the assistant's text of the run, the steps joined by a blank line."""
        return STEP_SEPARATOR.join(self.texts)

    def feed(self, event: Event) -> list[Action]:
        kind = event.type
        if kind == "message.delta":
            text = event.text
            if not text:
                return []
            actions: list[Action] = [] if self._open else [("open", "")]
            self._open = True
            self._buffer.append(text)
            actions.append(("delta", text))
            return actions
        if kind == "message.completed":
            message = event.message
            if message is None or message.role != "assistant":
                return []
            text = message.text
            cut = bool((event.data or {}).get("incomplete"))
            if self._open:
                return self._close(text or "".join(self._buffer), cut)
            if not text:
                return []
            self._open = True
            return [("open", ""), ("delta", text), *self._close(text, cut)]
        if kind == "approval.requested":  # the reply ends with a note: the run paused
            note = approval_note(event)
            before = self._close("".join(self._buffer)) if self._open else []
            return [*before, ("open", ""), ("delta", note), *self._close(note)]
        if event.is_terminal and self._open:
            return self._close("".join(self._buffer))
        return []

    def _close(self, text: str, incomplete: bool = False) -> list[Action]:
        self._open = False
        self._buffer.clear()
        self.texts.append(text)
        self.incomplete.append(incomplete)
        return [("close", text)]


def approval_note(event: Event) -> str:
    """What an OpenAI client reads when the run paused for approval (it cannot answer it
    through this API: the native API, the CLI or the web page can)."""
    data = event.data or {}
    approval_id = data.get("approval_id")
    return (
        f"[waiting for approval: {data.get('tool_name')} {data.get('arguments')}; answer with "
        f"`agenthost approve {approval_id}` or POST /v1/apps/AGENT/approvals/{approval_id}]"
    )


def chat_usage(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage()
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def responses_usage(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def finish_reason(event: Event) -> str:
    reason = (event.data or {}).get("finish_reason")
    return reason if reason in ("stop", "length", "content_filter") else "stop"


def check_session_id(value: str, field: str) -> str:
    if not _SESSION_ID.fullmatch(value):
        raise InvalidArgument(
            field,
            "a session id is 1-256 characters of letters, digits and . _ : @ + = -",
        )
    return value


# ---- input -------------------------------------------------------------------------------


def _parts(
    content: Any, field: str, text_types: Sequence[str], image_types: Sequence[str]
) -> list[Part]:
    if isinstance(content, str):
        if not content:
            raise InvalidArgument(field, "the user message is empty")
        return [TextPart(text=content)]
    if not isinstance(content, list) or not content:
        raise InvalidArgument(field, "must be a string or a non-empty list of content parts")
    parts: list[Part] = []
    for index, item in enumerate(content):
        where = f"{field}.{index}"
        kind = item.get("type") if isinstance(item, dict) else None
        if kind in text_types and isinstance(item.get("text"), str):
            parts.append(TextPart(text=item["text"]))
        elif kind in image_types:
            parts.append(_image(item, where))
        elif kind in ("file", "input_file"):
            parts.append(_file(item, where))
        elif kind == "input_audio":
            raise InvalidArgument(
                f"{where}.type",
                "input_audio parts are not supported yet; send the audio as a file part",
            )
        else:
            allowed = ", ".join([*text_types, *image_types, "file"])
            raise InvalidArgument(
                f"{where}.type", f"unsupported content part {kind!r}; supported: {allowed}"
            )
    return parts


def _image(item: dict[str, Any], where: str) -> ImagePart:
    """`{"type": "image_url", "image_url": {"url": ...}}` (Responses: `"image_url": "..."`):
    a data: URL becomes bytes; an http(s) URL goes to the model unfetched."""
    url = item.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidArgument(f"{where}.image_url", "an image part needs a URL")
    inline = data_url(url, f"{where}.image_url.url")
    if inline is not None:
        return ImagePart(data=inline[1], mime_type=inline[0])
    return ImagePart(url=check_remote_url(url, f"{where}.image_url.url"))


def _file(item: dict[str, Any], where: str) -> FilePart:
    """`{"type": "file", "file": {"file_data": "data:...;base64,...", "filename": ...}}`
    (Responses: `input_file` with the same fields at the top). `file_id` is OpenAI's own
    file store: not supported."""
    body = item.get("file") if item.get("type") == "file" else item
    if not isinstance(body, dict):
        raise InvalidArgument(f"{where}.file", "a file part needs a 'file' object")
    name = body.get("filename") if isinstance(body.get("filename"), str) else None
    raw = body.get("file_data")
    if not isinstance(raw, str) or not raw:
        raise InvalidArgument(
            f"{where}.file.file_data",
            "a file part needs 'file_data' (a data: URL or base64); file_id is not supported",
        )
    inline = data_url(raw, f"{where}.file.file_data")
    if inline is not None:
        mime, data = inline
    else:
        mime, data = guess_mime(name), decode_base64(raw, f"{where}.file.file_data")
    return FilePart(data=data, mime_type=mime, name=name)


def chat_user_message(messages: Sequence[Any]) -> Message:
    """The new message of a chat completion: the last message, which must be the user's.
    Earlier messages are not replayed: the session keeps the history."""
    index = len(messages) - 1
    last = messages[index]
    if last.role != "user":
        raise InvalidArgument(
            f"messages.{index}.role",
            f"the last message must be the user's (role 'user'), got {last.role!r}; agenthost "
            f"runs tools itself and keeps the history in the session",
        )
    content = last.content
    parts = _parts(content, f"messages.{index}.content", ("text",), ("image_url",))
    return Message(role="user", parts=tuple(parts))


def responses_user_message(value: str | list[dict[str, Any]]) -> Message:
    """The new message of a Responses request: `input` as a string, or its last item, which
    must be a user message."""
    if isinstance(value, str):
        return Message(role="user", parts=tuple(_parts(value, "input", (), ())))
    if not value:
        raise InvalidArgument("input", "must be a string or a non-empty list of input items")
    index = len(value) - 1
    item = value[index]
    role = item.get("role")
    if role != "user" or item.get("type", "message") != "message":
        raise InvalidArgument(
            f"input.{index}",
            f"the last input item must be a user message, got type {item.get('type')!r} "
            f"role {role!r}",
        )
    parts = _parts(
        item.get("content"),
        f"input.{index}.content",
        ("input_text", "text", "output_text"),
        ("input_image", "image_url"),
    )
    return Message(role="user", parts=tuple(parts))
