"""The tool port."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec

from agenthost.core.messages import FilePart, ImagePart
from agenthost.ports.models import ToolSpec


class ToolOutput(msgspec.Struct, frozen=True, kw_only=True):
    """What a tool gave: `content` is the text the model reads; `parts` keeps binary content
    (an MCP tool's images, blobs) for callers that can use it (`content` names each one)."""

    content: str
    is_error: bool = False
    parts: tuple[ImagePart | FilePart, ...] = ()


@runtime_checkable
class Tool(Protocol):
    """Something an agent can call. Raise `ToolError` (or anything) to report a failure: the
    message goes back to the model and the run goes on."""

    @property
    def spec(self) -> ToolSpec: ...

    async def call(self, arguments: dict[str, Any]) -> Any: ...
