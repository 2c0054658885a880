"""Request bodies (pydantic, at the HTTP edge only; responses are encoded with msgspec/orjson).

Native bodies are strict and forbid unknown fields, so a typo or a wrong type is a 422 naming
the field. OpenAI bodies accept (and ignore) the many fields of that API we do not use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agenthost.core.errors import InvalidArgument
from agenthost.core.messages import FilePart, ImagePart, Message, Part, TextPart
from agenthost.server._attachments import check_remote_url, data_url, decode_base64, guess_mime

SESSION_ID_PATTERN = r"^[A-Za-z0-9._:@+=-]{1,256}$"
SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateSession(_Strict):
    session_id: Annotated[
        SessionId | None, Field(description="Your id for the session (default: a new one).")
    ] = None
    state: Annotated[
        dict[str, Any] | None,
        Field(description="Initial state; 'user:' keys are the user's, 'app:' keys admin only."),
    ] = None


class PartIn(_Strict):
    kind: Literal["text", "image", "file"]
    text: str | None = None
    url: Annotated[
        str | None,
        Field(
            max_length=50_000_000,
            description="An http(s) URL (given to the model, never fetched here) or a data: URL.",
        ),
    ] = None
    data: Annotated[str | None, Field(description="The bytes, base64 (kept as an artifact).")] = (
        None
    )
    mime_type: Annotated[str | None, Field(max_length=200)] = None
    name: Annotated[str | None, Field(max_length=500)] = None


class RunBody(_Strict):
    message: Annotated[
        Annotated[str, Field(min_length=1)]
        | Annotated[list[PartIn], Field(min_length=1, max_length=100)],
        Field(description="The user's message: text, or a list of text/image/file parts."),
    ]
    stream: Annotated[bool, Field(description="SSE events (true) or one JSON answer (false).")] = (
        True
    )
    on_disconnect: Annotated[
        Literal["continue", "cancel"] | None,
        Field(description="When the streaming client goes away (default: the server's)."),
    ] = None
    timeout: Annotated[
        float | None, Field(gt=0, le=86_400, description="Run deadline, seconds.")
    ] = None
    state_delta: dict[str, Any] | None = None
    busy_policy: Literal["queue", "reject", "interrupt"] | None = None
    config: Annotated[dict[str, Any] | None, Field(description="Per-run agent config.")] = None
    background: Annotated[
        bool,
        Field(
            description="Run it on a worker (`agenthost worker`) and answer at once (202); "
            "read its events from the run's events route. Needs cluster.broker."
        ),
    ] = False


def run_message(body: RunBody) -> Message:
    """The user message of a run body."""
    if isinstance(body.message, str):
        return Message.user(body.message)
    parts: list[Part] = []
    for index, part in enumerate(body.message):
        where = f"message.{index}"
        if part.kind == "text":
            if not part.text:
                raise InvalidArgument(f"{where}.text", "a text part needs non-empty 'text'")
            parts.append(TextPart(text=part.text))
        else:
            parts.append(_attachment(part, where))
    return Message(role="user", parts=tuple(parts))


def _attachment(part: PartIn, where: str) -> ImagePart | FilePart:
    """An image or file part: bytes from `data` (base64) or a data: URL, else an http(s) URL."""
    default = "image/png" if part.kind == "image" else guess_mime(part.name)
    data: bytes | None = None
    url: str | None = None
    mime = part.mime_type
    if part.data is not None:
        data = decode_base64(part.data, f"{where}.data")
    elif part.url:
        inline = data_url(part.url, f"{where}.url")
        if inline is not None:
            mime, data = mime or inline[0], inline[1]
        else:
            url = check_remote_url(part.url, f"{where}.url")
    else:
        raise InvalidArgument(f"{where}.url", f"an {part.kind} part needs 'data' or a 'url'")
    if part.kind == "image":
        return ImagePart(url=url, data=data, mime_type=mime or default)
    return FilePart(url=url, data=data, mime_type=mime or default, name=part.name)


# ---- OpenAI-compatible -------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessageIn(_Loose):
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(_Loose):
    include_usage: bool = False


EndUser = Annotated[
    str | None,
    Field(
        max_length=256,
        description="Your application's end-user id (as OpenAI uses it): logged and traced "
        "with the run; not a session id (send the X-Session-Id header to keep a conversation).",
    ),
]


class ChatCompletionBody(_Loose):
    model: Annotated[str, Field(min_length=1, description="The agent's name (GET /v1/models).")]
    messages: Annotated[list[ChatMessageIn], Field(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: EndUser = None
    n: int | None = None
    on_disconnect: Literal["continue", "cancel"] | None = None


class ResponsesBody(_Loose):
    model: Annotated[str, Field(min_length=1, description="The agent's name (GET /v1/models).")]
    input: str | list[dict[str, Any]]
    stream: bool = False
    previous_response_id: str | None = None
    user: EndUser = None
    instructions: str | None = None
    on_disconnect: Literal["continue", "cancel"] | None = None
