"""The tool port."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec

from agenthost.ports.models import ToolSpec


class ToolOutput(msgspec.Struct, frozen=True, kw_only=True):
    content: str
    is_error: bool = False


@runtime_checkable
class Tool(Protocol):
    """Something an agent can call. Raise `ToolError` (or anything) to report a failure: the
    message goes back to the model and the run goes on."""

    @property
    def spec(self) -> ToolSpec: ...

    async def call(self, arguments: dict[str, Any]) -> Any: ...
