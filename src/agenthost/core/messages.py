"""Messages made of parts: text, image, file, tool call, tool result.

Structs are msgspec (frozen, tagged by `kind`) so that stored sessions decode fast; an image or
file is either a reference (`url`) or inline bytes with a mime type. They hold only strings,
bytes and other parts, so they can never be part of a reference cycle: `gc=False` keeps them out
of the cyclic garbage collector, which otherwise rescans long histories on every collection.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import orjson

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="text", tag_field="kind"):
    text: str


class ImagePart(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="image", tag_field="kind"):
    url: str | None = None
    data: bytes | None = None
    mime_type: str = "image/png"


class FilePart(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="file", tag_field="kind"):
    url: str | None = None
    data: bytes | None = None
    mime_type: str = "application/octet-stream"
    name: str | None = None


class ToolCallPart(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="tool_call", tag_field="kind"
):
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; raises ValueError when they are not a JSON object."""
        value = orjson.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("tool arguments must be a JSON object")
        return value


class ToolResultPart(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="tool_result", tag_field="kind"
):
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


Part = TextPart | ImagePart | FilePart | ToolCallPart | ToolResultPart


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    role: Role
    parts: tuple[Part, ...] = ()

    @property
    def text(self) -> str:
        """All text parts joined."""
        return "".join(p.text for p in self.parts if type(p) is TextPart)

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if type(p) is ToolCallPart]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", parts=(TextPart(text=text),))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", parts=(TextPart(text=text),))

    @classmethod
    def assistant(cls, text: str, tool_calls: tuple[ToolCallPart, ...] = ()) -> Message:
        parts: tuple[Part, ...] = ((TextPart(text=text),) if text else ()) + tool_calls
        return cls(role="assistant", parts=parts)

    @classmethod
    def tool(cls, result: ToolResultPart) -> Message:
        return cls(role="tool", parts=(result,))


def as_message(value: str | Message) -> Message:
    """Accept a plain string as a user message."""
    return Message.user(value) if isinstance(value, str) else value
