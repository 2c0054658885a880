"""A run without a deadline steps under its `StepScope` (engine/active.py) instead of
`asyncio.timeout_at(None)`: the same outcomes for a cancel, an outside cancellation, both,
and an agent that swallows the cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.engine.active import StepScope
from agenthost.engine.runner import Runner
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    ResultBatch,
    RunCompleted,
    RunContext,
)
from agenthost.ports.sessions import SessionStore


async def _under_step_scope(body: Callable[[], Any], started: asyncio.Event, box: list[Any]) -> Any:
    """The runner's step (runner.py `_step`) around `body`."""
    scope = StepScope(asyncio.get_running_loop())
    scope.enter()
    box.append(scope)
    started.set()
    try:
        result = await body()
    except asyncio.CancelledError as exc:
        if scope.exit(True):
            raise TimeoutError from exc
        raise
    except BaseException:
        scope.exit(False)
        raise
    scope.exit(False)
    return result


async def _under_timeout(body: Callable[[], Any], started: asyncio.Event, box: list[Any]) -> Any:
    async with asyncio.timeout_at(None) as scope:
        box.append(scope)
        started.set()
        return await body()


async def _outcome(wrap: Any, *, fire: bool, cancel: bool, swallow: bool) -> tuple[str, bool, int]:
    """(how the step ended, scope.expired(), the task's cancelling() afterwards)."""
    started, box = asyncio.Event(), []
    gate = asyncio.Event()

    async def body() -> str:
        try:
            await gate.wait()
        except asyncio.CancelledError:
            if not swallow:
                raise
            return "swallowed"
        return "done"

    async def step() -> tuple[str, int]:
        try:
            got = await wrap(body, started, box)
        except TimeoutError:
            got = "timeout"
        except asyncio.CancelledError:
            got = "cancelled"
        task = asyncio.current_task()
        assert task is not None
        return got, task.cancelling()

    task = asyncio.create_task(step())
    await started.wait()
    if fire:
        box[0].reschedule(asyncio.get_running_loop().time())
    if cancel:
        task.cancel()
    if not fire and not cancel:
        gate.set()
    got, cancelling = await task
    return got, box[0].expired(), cancelling


@pytest.mark.parametrize(
    ("fire", "cancel", "swallow"),
    [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (True, True, False),
        (True, False, True),
        (False, True, True),
    ],
)
async def test_the_step_scope_ends_a_step_as_asyncio_timeout_does(
    fire: bool, cancel: bool, swallow: bool
) -> None:
    ours = await _outcome(_under_step_scope, fire=fire, cancel=cancel, swallow=swallow)
    theirs = await _outcome(_under_timeout, fire=fire, cancel=cancel, swallow=swallow)
    assert ours == theirs


def test_a_step_scope_that_is_not_entered_cannot_be_fired() -> None:
    scope = StepScope(asyncio.new_event_loop())
    try:
        with pytest.raises(RuntimeError):
            scope.reschedule(0.0)
        assert not scope.expired()
    finally:
        scope._loop.close()  # type: ignore[attr-defined]


class _Stubborn:
    """An agent that swallows the cancellation of its step and answers anyway."""

    manifest = Manifest(id="stubborn", name="stubborn")

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        try:
            self.waiting.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        yield [MessageCompleted(message=Message.assistant("still here")), RunCompleted()]


async def test_a_run_whose_agent_swallows_the_cancel_still_ends_cancelled(
    store: SessionStore,
) -> None:
    agent = _Stubborn()
    runner = Runner(agent, store=store)  # type: ignore[arg-type]
    events: list[Event] = []

    async def consume() -> None:
        async for event in runner.run("u", None, "hi", run_id="run_s"):
            events.append(event)

    task = asyncio.create_task(consume())
    await agent.waiting.wait()
    runner.cancel("run_s")
    await task
    assert [e.type for e in events] == ["message.received", "run.failed"]
    assert events[-1].error is not None and events[-1].error.code == "cancelled"
    task_now = asyncio.current_task()
    assert task_now is not None and task_now.cancelling() == 0
