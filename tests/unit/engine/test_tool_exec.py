"""execute_tool: a coroutine tool's timeout is armed only when the tool suspends
(engine/tool_exec.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import pytest

from agenthost.core.deadlines import CancelScope
from agenthost.engine import tool_exec
from agenthost.engine.tool_exec import execute_tool
from agenthost.ports.models import ToolSpec
from agenthost.ports.tools import ToolOutput

_seen: ContextVar[str] = ContextVar("test_tool_exec_seen", default="")


class Tool:
    """A tool whose call is the given function (a coroutine function, or any callable
    returning an awaitable)."""

    def __init__(self, call: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        self._call = call
        self.spec = ToolSpec(name="probe", description="", parameters={"type": "object"})

    def call(self, arguments: dict[str, Any]) -> Awaitable[Any]:
        return self._call(arguments)


@pytest.fixture
def resumes(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The timers execute_tool armed, as the seconds left to each deadline when it was set
    (a coroutine tool: one per call that suspended)."""
    armed: list[float] = []

    class Spy(CancelScope):
        __slots__ = ()

        def __init__(self, deadline: float | None = None, **kwargs: Any) -> None:
            assert deadline is not None
            armed.append(deadline - asyncio.get_running_loop().time())
            super().__init__(deadline, **kwargs)

    monkeypatch.setattr(tool_exec, "CancelScope", Spy)
    return armed


async def test_a_tool_finishing_without_suspending_arms_no_timer(resumes: list[float]) -> None:
    async def quick(arguments: dict[str, Any]) -> dict[str, Any]:
        return {"echo": arguments["x"], "context": _seen.get()}

    token = _seen.set("caller")
    try:
        output = await execute_tool(Tool(quick), {"x": 1}, timeout=5.0)
    finally:
        _seen.reset(token)
    assert output == ToolOutput(content='{"echo":1,"context":"caller"}')
    assert resumes == []


async def test_a_tool_returning_tool_output_keeps_it(resumes: list[float]) -> None:
    async def quick(arguments: dict[str, Any]) -> ToolOutput:
        return ToolOutput(content="as is", is_error=True)

    assert await execute_tool(Tool(quick), {}, timeout=5.0) == ToolOutput(
        content="as is", is_error=True
    )
    assert await execute_tool(Tool(quick), {}, timeout=None) == ToolOutput(
        content="as is", is_error=True
    )
    assert resumes == []


async def test_a_suspending_tool_is_resumed_under_its_timer(resumes: list[float]) -> None:
    gate = asyncio.Event()
    first = asyncio.Event()
    steps: list[str] = []

    async def slow(arguments: dict[str, Any]) -> str:
        steps.append(f"first {_seen.get()}")
        first.set()
        await asyncio.sleep(0)  # a bare yield to the loop
        await gate.wait()  # a future
        steps.append(f"after {_seen.get()}")
        return "done"

    token = _seen.set("caller")
    try:
        task = asyncio.create_task(execute_tool(Tool(slow), {}, timeout=60.0))
        await first.wait()
        gate.set()
        output = await task
    finally:
        _seen.reset(token)
    assert output == ToolOutput(content="done")
    assert steps == ["first caller", "after caller"]
    assert len(resumes) == 1 and 0 < resumes[0] <= 60.0


async def test_a_suspending_tool_that_times_out(resumes: list[float]) -> None:
    cleaned = asyncio.Event()

    async def stuck(arguments: dict[str, Any]) -> str:
        try:
            await asyncio.Event().wait()  # never set
        finally:
            cleaned.set()
        return "never"

    output = await execute_tool(Tool(stuck), {}, timeout=0.0)  # due at its first suspension
    assert output.is_error
    assert "'probe' did not finish within 0s" in output.content
    assert cleaned.is_set()
    assert len(resumes) == 1


async def test_the_first_step_counts_against_the_timeout(
    resumes: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first step that used up the timeout (a long synchronous start) times the tool out
    at its first suspension, as a timer armed at the call would have."""
    clock = iter([100.0, 105.0])
    monkeypatch.setattr(tool_exec, "_now", lambda: next(clock))
    reached = asyncio.Event()

    async def slow_start(arguments: dict[str, Any]) -> str:
        reached.set()
        await asyncio.sleep(0)  # ready again at once: the due timer still comes first
        return "never"

    output = await execute_tool(Tool(slow_start), {}, timeout=2.0)
    assert reached.is_set()
    assert output.is_error and "2" in output.content
    assert len(resumes) == 1 and resumes[0] <= -3.0


@pytest.mark.parametrize("suspend", [False, True])
async def test_a_tool_raising_becomes_an_error_output(resumes: list[float], suspend: bool) -> None:
    async def broken(arguments: dict[str, Any]) -> str:
        if suspend:
            await asyncio.sleep(0)
        raise ValueError("bad input")

    output = await execute_tool(Tool(broken), {}, timeout=5.0)
    assert output == ToolOutput(content="error: ValueError: bad input", is_error=True)
    assert len(resumes) == (1 if suspend else 0)


@pytest.mark.parametrize("suspend", [False, True])
@pytest.mark.parametrize("timeout", [None, 5.0])
async def test_a_tool_raising_timeout_error_itself_is_reported_as_its_own_error(
    suspend: bool, timeout: float | None
) -> None:
    """Not as "did not finish within 5.0s" (nor "within 0s" without a timeout): the tool's
    own wait ran out, and its message says which."""

    async def own_timeout(arguments: dict[str, Any]) -> str:
        if suspend:
            await asyncio.sleep(0)
        raise TimeoutError("the upstream API did not answer")

    output = await execute_tool(Tool(own_timeout), {}, timeout=timeout)
    assert output == ToolOutput(
        content="error: TimeoutError: the upstream API did not answer", is_error=True
    )


async def test_cancellation_while_suspended_reaches_the_tool_and_propagates(
    resumes: list[float],
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def waits(arguments: dict[str, Any]) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    task = asyncio.create_task(execute_tool(Tool(waits), {}, timeout=60.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    assert len(resumes) == 1


async def test_a_tool_may_catch_a_cancellation_and_answer(resumes: list[float]) -> None:
    """What the task throws in goes to the tool, which may still return (as with `await`)."""
    started = asyncio.Event()

    async def stubborn(arguments: dict[str, Any]) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # suspends again after the throw
            return "caught"
        return "never"

    task = asyncio.create_task(execute_tool(Tool(stubborn), {}, timeout=60.0))
    await started.wait()
    task.cancel()
    assert await task == ToolOutput(content="caught")


async def test_without_a_timeout_the_tool_is_awaited(resumes: list[float]) -> None:
    async def slow(arguments: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return "ok"

    assert await execute_tool(Tool(slow), {}, timeout=None) == ToolOutput(content="ok")
    assert resumes == []


async def test_an_awaitable_that_is_not_a_coroutine_is_timed_from_the_start(
    resumes: list[float],
) -> None:
    class Later:
        def __await__(self) -> Iterator[Any]:
            yield from asyncio.sleep(0).__await__()
            return "later"

    def call(arguments: dict[str, Any]) -> Awaitable[Any]:
        return Later()

    assert await execute_tool(Tool(call), {}, timeout=5.0) == ToolOutput(content="later")
    never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    output = await execute_tool(Tool(lambda arguments: never), {}, timeout=0.0)
    assert output.is_error and never.cancelled()
    assert len(resumes) == 2 and 0 < resumes[0] <= 5.0 and resumes[1] <= 0.0


async def test_closing_a_suspended_call_closes_the_tool() -> None:
    """A coroutine abandoned while its tool is suspended (closed, as a garbage collected
    task's is) closes the tool's coroutine too: its `finally` runs."""
    closed: list[str] = []
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waits(arguments: dict[str, Any]) -> str:
        try:
            await gate
        finally:
            closed.append("tool")
        return "never"

    coro = execute_tool(Tool(waits), {}, timeout=60.0)
    assert coro.send(None) is gate  # suspended on the tool's future
    coro.close()
    assert closed == ["tool"]
