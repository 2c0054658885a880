"""Running one tool call: argument parsing, timeout, errors turned into results, size cap."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from agenthost.core.errors import AgentHostError, ToolTimeout
from agenthost.ports.tools import Tool, ToolOutput

_encoder = msgspec.json.Encoder()


def render_result(value: Any) -> str:
    """A tool's return value as text for the model."""
    if isinstance(value, str):
        return value
    if isinstance(value, ToolOutput):
        return value.content
    try:
        return _encoder.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def error_output(exc: BaseException) -> ToolOutput:
    detail = exc.message if isinstance(exc, AgentHostError) else f"{type(exc).__name__}: {exc}"
    return ToolOutput(content=f"error: {detail}", is_error=True)


async def execute_tool(
    tool: Tool, arguments: dict[str, Any], *, timeout: float | None
) -> ToolOutput:
    """Call `tool`; an exception or timeout becomes an error output (cancellation propagates)."""
    try:
        if timeout is None:
            value = await tool.call(arguments)
        else:
            async with asyncio.timeout(timeout):
                value = await tool.call(arguments)
    except TimeoutError:
        return error_output(ToolTimeout(tool_name=tool.spec.name, seconds=timeout or 0))
    except Exception as exc:
        return error_output(exc)
    if isinstance(value, ToolOutput):
        return value
    return ToolOutput(content=render_result(value))


def cap(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n[truncated: {len(text) - limit} more characters]"
