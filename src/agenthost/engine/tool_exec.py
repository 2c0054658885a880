"""Running one tool call: argument parsing, timeout, errors turned into results, size cap.

The timeout costs nothing for a tool that finishes without suspending (most quick async
tools): its coroutine's first step is driven here, synchronously, and only when it suspends
is the timer armed (a `CancelScope` around `_Suspended`), for what is left of the timeout.
A tool that never awaits anything cannot be interrupted by a timer anyway; one that
suspends is timed out as before, from the moment it was called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Generator
from types import CoroutineType
from typing import Any

import msgspec

from agenthost.core.deadlines import CancelScope
from agenthost.core.errors import AgentHostError, ToolTimeout
from agenthost.ports.tools import Tool, ToolOutput

_encoder = msgspec.json.Encoder()
_now = time.monotonic  # the clock of the first step (a name of its own: tests set it)


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
    """Call `tool`; an exception or timeout becomes an error output (cancellation propagates).
    A `TimeoutError` of the tool's own (a wait of its own ran out) is reported as itself."""
    scope: CancelScope | None = None  # the timer, once armed
    try:
        call = tool.call(arguments)
        if timeout is None:
            value = await call
        elif type(call) is CoroutineType:
            start = _now()
            try:
                signal = call.send(None)  # its first step, here and now
            except StopIteration as stop:  # finished without suspending: no timer at all
                value = stop.value
            else:  # what is left of the timeout (used up already: fires at this suspension)
                left = timeout - (_now() - start)
                with (scope := CancelScope(asyncio.get_running_loop().time() + left)):
                    value = await _Suspended(call, signal)
        else:  # some other awaitable: the timer from the start
            with (scope := CancelScope(asyncio.get_running_loop().time() + timeout)):
                value = await call
    except Exception as exc:
        if type(exc) is TimeoutError and scope is not None and scope.expired():
            return error_output(ToolTimeout(tool_name=tool.spec.name, seconds=timeout or 0))
        return error_output(exc)
    if isinstance(value, ToolOutput):
        return value
    return ToolOutput(content=render_result(value))


class _Suspended:
    """Awaiting it hands the task the future `coro` is suspended on, then drives `coro` as
    `await coro` would: what the task sends or throws in goes to `coro`."""

    __slots__ = ("coro", "signal")

    def __init__(self, coro: Coroutine[Any, Any, Any], signal: Any) -> None:
        self.coro = coro
        self.signal = signal

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, signal = self.coro, self.signal
        while True:
            try:
                sent = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # the task's cancellation, or the timer's
                try:
                    signal = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                signal = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def cap(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n[truncated: {len(text) - limit} more characters]"
