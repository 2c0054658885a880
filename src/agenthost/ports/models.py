"""The chat model port: one completion call, streaming or not.

A `ChatModel` is the wire interface (messages + tools in, text/tool calls/usage out). Where it
connects and with which key is the provider's business (see backends.models).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import msgspec

from agenthost.core.messages import Message
from agenthost.core.usage import Usage


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What a model is told about a tool: its name, description and JSON schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


class ModelSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None  # seconds for the whole call
    tool_choice: str | None = None  # "auto" | "none" | "required"
    extra: dict[str, Any] = msgspec.field(default_factory=dict)  # vendor-only body fields


class ModelResponse(msgspec.Struct, frozen=True, kw_only=True):
    message: Message  # role "assistant": text parts and tool call parts
    usage: Usage
    model: str
    finish_reason: str | None = None


class TextDelta(msgspec.Struct, frozen=True, tag="text_delta"):
    text: str


class ToolCallDelta(msgspec.Struct, frozen=True, kw_only=True, tag="tool_call_delta"):
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ResponseDone(msgspec.Struct, frozen=True, tag="done"):
    response: ModelResponse


StreamEvent = TextDelta | ToolCallDelta | ResponseDone


@runtime_checkable
class ChatModel(Protocol):
    """One model. `stream` yields deltas and always ends with exactly one `ResponseDone`."""

    @property
    def name(self) -> str:
        """'provider:model' id."""
        ...

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]: ...

    async def __aenter__(self) -> ChatModel: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
