"""Scripted replies of the fake OpenAI-compatible server, and the bodies they turn into.

A reply is one of `TextReply`, `ToolCallsReply`, `ErrorReply`, `GarbageReply` or `HangReply`.
`render(reply, request, stream=...)` gives the HTTP status, extra headers and the body bytes;
stream bodies are SSE frames split the way OpenAI splits them (tool-call arguments spread over
several chunks, one chunk per tool call start, a final chunk with the finish reason, then an
optional usage chunk with `choices: []`, then `data: [DONE]`).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import orjson


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str | dict[str, Any] = "{}"
    id: str | None = None

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return orjson.dumps(self.arguments).decode()


@dataclass(frozen=True, slots=True)
class TextReply:
    text: str
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); None = estimate
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class ToolCallsReply:
    calls: tuple[ToolCall, ...]
    text: str = ""
    usage: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    body: str | dict[str, Any] | None = None  # None = an OpenAI-style error object
    retry_after: float | str | None = None


@dataclass(frozen=True, slots=True)
class GarbageReply:
    """'json': invalid JSON (in a stream: a broken `data:` line after one good chunk);
    'truncate': a stream that stops after one chunk, without finish reason or [DONE];
    'cut': the connection is closed halfway through the promised Content-Length."""

    kind: Literal["json", "truncate", "cut"] = "json"


@dataclass(frozen=True, slots=True)
class HangReply:
    """Never answer; the connection stays open until the client gives up."""


Reply = TextReply | ToolCallsReply | ErrorReply | GarbageReply | HangReply
Responder = Callable[[dict[str, Any]], Reply]


def tool_call(name: str, arguments: str | dict[str, Any] = "{}", id: str | None = None) -> Reply:
    """A reply with a single tool call."""
    return ToolCallsReply(calls=(ToolCall(name, arguments, id),))


def echo_tool_responder(request: dict[str, Any]) -> Reply:
    """Default behaviour, made for benchmarks and smoke tests.

    With tools and a user message last: call the first tool, with `{"query": "fake"}` or, when
    its schema requires other fields, a placeholder of the right type for each. With a tool
    result last: answer text. Otherwise echo the last message's text.
    """
    messages = request.get("messages") or [{}]
    last = messages[-1]
    role = last.get("role")
    tools = request.get("tools")
    if tools and role == "user":
        function = tools[0].get("function", {})
        name = function.get("name", "tool")
        return ToolCallsReply(calls=(ToolCall(name, _placeholder_args(function)),))
    if role == "tool":
        return TextReply(f"Done: {str(last.get('content'))[:200]}")
    content = last.get("content")
    return TextReply(f"Echo: {content if isinstance(content, str) else '...'}")


_PLACEHOLDERS = {"string": "fake", "integer": 1, "number": 1.0, "boolean": True}


def _placeholder_args(function: dict[str, Any]) -> str:
    schema = function.get("parameters") or {}
    required = [r for r in schema.get("required") or () if r != "query"]
    if not required:
        return '{"query": "fake"}'
    props = schema.get("properties") or {}
    args = {r: _PLACEHOLDERS.get(props.get(r, {}).get("type", "string"), "fake") for r in required}
    return orjson.dumps(args).decode()


# ---- rendering ---------------------------------------------------------------------------

_ids = itertools.count(1)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


@dataclass(slots=True)
class Rendered:
    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    pieces: list[bytes] | None = None  # SSE frames, when stream delays are wanted
    cut_at: int | None = None  # close the connection after this many body bytes


@functools.cache
def status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


def _usage(reply_usage: tuple[int, int] | None, body_size: int, out: str) -> dict[str, Any]:
    prompt, completion = reply_usage or (max(1, body_size // 4), max(1, len(out) // 4))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _head(model: str, obj: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{next(_ids):08x}",
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }


def _wire_calls(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id or f"call_fake{next(_ids):08x}",
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments_text},
        }
        for c in calls
    ]


def render(reply: Reply, request: dict[str, Any], body_size: int, stream: bool) -> Rendered:
    if isinstance(reply, ErrorReply):
        return _render_error(reply)
    if isinstance(reply, GarbageReply):
        return _render_garbage(reply, request, stream)
    if isinstance(reply, HangReply):  # pragma: no cover - the server never renders hangs
        raise TypeError("a hang has no body")
    model = str(request.get("model", "fake-model"))
    text = reply.text
    calls = _wire_calls(reply.calls) if isinstance(reply, ToolCallsReply) else []
    out = text + "".join(c["function"]["arguments"] for c in calls)
    usage = _usage(reply.usage, body_size, out)
    finish = "tool_calls" if calls else getattr(reply, "finish_reason", "stop")
    if stream:
        options = request.get("stream_options") or {}
        frames = list(_stream_frames(model, text, calls, finish, usage, options))
        return Rendered(200, b"".join(frames), b"text/event-stream", pieces=frames)
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    body = _head(model, "chat.completion") | {"choices": [choice], "usage": usage}
    return Rendered(200, orjson.dumps(body))


def _render_error(reply: ErrorReply) -> Rendered:
    headers = [] if reply.retry_after is None else [("Retry-After", str(reply.retry_after))]
    body = reply.body
    if body is None:
        body = {
            "error": {
                "message": f"Fake error {reply.status}",
                "type": _ERROR_TYPES.get(reply.status, "server_error"),
                "param": None,
                "code": None,
            }
        }
    raw = body.encode() if isinstance(body, str) else orjson.dumps(body)
    return Rendered(reply.status, raw, headers=headers)


def _render_garbage(reply: GarbageReply, request: dict[str, Any], stream: bool) -> Rendered:
    if reply.kind == "cut":
        whole = render(TextReply("cut " * 50), request, 0, stream)
        whole.cut_at = len(whole.body) // 2
        whole.pieces = None
        return whole
    if not stream:
        return Rendered(200, b'{"id": "chatcmpl-garbage", "choices": [oops')
    head = _head(str(request.get("model", "fake-model")), "chat.completion.chunk")
    first = _frame(head, {"role": "assistant", "content": "partial"}, None, None, True)
    tail = b"" if reply.kind == "truncate" else b'data: {"id": "broken", "choices": [\n\n'
    return Rendered(200, first + tail, b"text/event-stream")


def _frame(
    head: dict[str, Any],
    delta: dict[str, Any] | None,
    finish: str | None,
    usage: dict[str, Any] | None,
    with_usage_key: bool,
) -> bytes:
    chunk = dict(head)
    chunk["choices"] = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    if with_usage_key:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_frames(
    model: str,
    text: str,
    calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, Any],
    options: dict[str, Any],
) -> Iterator[bytes]:
    head = _head(model, "chat.completion.chunk")
    include_usage = bool(options.get("include_usage"))
    opening: dict[str, Any] = {"role": "assistant", "content": "" if text or not calls else None}
    opening["refusal"] = None
    yield _frame(head, opening, None, None, include_usage)
    if text:
        for piece in _split(text, 4):
            yield _frame(head, {"content": piece}, None, None, include_usage)
    for index, call in enumerate(calls):
        fn = call["function"]
        start = {"index": index, "id": call["id"], "type": "function"}
        start["function"] = {"name": fn["name"], "arguments": ""}
        yield _frame(head, {"tool_calls": [start]}, None, None, include_usage)
        for piece in _split(fn["arguments"], 5):
            delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            yield _frame(head, delta, None, None, include_usage)
    yield _frame(head, {}, finish, None, include_usage)
    if include_usage:
        yield _frame(head, None, None, usage, True)
    yield b"data: [DONE]\n\n"
