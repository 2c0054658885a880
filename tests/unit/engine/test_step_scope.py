"""A run steps under its `StepScope` (engine/active.py, a core `CancelScope`) instead of
`asyncio.timeout_at`: the same outcomes for a cancel, an outside cancellation, both, and an
agent that swallows the cancellation; a real Runner with a step deadline ends the run
`deadline_exceeded`, and a cancel before the deadline ends it `cancelled`. No test waits on the
clock: the agents wait on events, and the deadlines are due at once or never reached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agenthost.core.deadlines import CancelScope
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
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
    with scope:
        box.append(scope)
        started.set()
        return await body()


async def _under_timeout(body: Callable[[], Any], started: asyncio.Event, box: list[Any]) -> Any:
    async with asyncio.timeout_at(None) as scope:
        box.append(scope)
        started.set()
        return await body()


async def _outcome(wrap: Any, *, fire: bool, cancel: bool, swallow: bool) -> tuple[str, bool, int]:
    """(how the step ended, scope.expired(), the task's cancelling() afterwards)."""
    started, box = asyncio.Event(), list[Any]()
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
        box[0].reschedule(asyncio.get_running_loop().time())  # what `cancel()` does
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
    loop = asyncio.new_event_loop()
    scope = StepScope(loop)
    try:
        with pytest.raises(RuntimeError):
            scope.reschedule(0.0)
        assert not scope.expired() and not scope.cancel()
    finally:
        loop.close()


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
    runner = Runner(agent, store=store)
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


class _Waiting:
    """An agent that says something, then waits for `go` (forever unless set) and finishes."""

    manifest = Manifest(id="waiting", name="waiting")

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.go = asyncio.Event()

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        yield [MessageCompleted(message=Message.assistant("working on it"))]
        self.waiting.set()
        await self.go.wait()
        yield [MessageCompleted(message=Message.assistant("done")), RunCompleted()]


async def _run(runner: Runner, run_id: str, timeout: float | None) -> list[Event]:
    return [e async for e in runner.run("u", None, "hi", run_id=run_id, timeout=timeout)]


def _caller_cancelling() -> int:
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


async def test_a_step_deadline_ends_a_real_run_deadline_exceeded(store: SessionStore) -> None:
    agent = _Waiting()
    runner = Runner(agent, store=store)
    # the run's deadline is due while the agent waits in its second step (it never gets `go`)
    events = await _run(runner, "run_d", timeout=0.0)
    assert [e.type for e in events] == ["message.received", "message.completed", "run.failed"]
    error = events[-1].error
    assert error is not None and error.code == "deadline_exceeded" and error.retryable
    assert _caller_cancelling() == 0  # the scope's cancellation became the outcome, nothing else
    first = events[0]
    stored = await store.get(SessionKey(first.app, first.user_id, first.session_id))
    assert stored is not None and stored.events[-1].type == "run.failed"


async def test_a_cancel_before_the_step_deadline_ends_the_run_cancelled(
    store: SessionStore,
) -> None:
    agent = _Waiting()
    runner = Runner(agent, store=store, timeout=3600)
    task = asyncio.create_task(_run(runner, "run_c", timeout=None))
    await agent.waiting.wait()
    scope = runner._active["run_c"].step_scope
    assert scope is not None and scope.entered and scope._handle is not None  # armed
    runner.cancel("run_c")
    events = await task
    assert [e.type for e in events][-1] == "run.failed"
    assert events[-1].error is not None and events[-1].error.code == "cancelled"
    assert scope.expired() and scope._handle is None  # fired; the deadline's timer is gone


async def test_a_run_that_beats_its_step_deadline_leaves_no_timer(store: SessionStore) -> None:
    agent = _Waiting()
    runner = Runner(agent, store=store)
    task = asyncio.create_task(_run(runner, "run_ok", timeout=3600))
    await agent.waiting.wait()
    scope = runner._active["run_ok"].step_scope
    assert scope is not None and scope.deadline is not None
    agent.go.set()
    events = await task
    assert [e.type for e in events] == [
        "message.received",
        "message.completed",
        "message.completed",
        "run.completed",
    ]
    assert not scope.expired() and not scope.entered and scope._handle is None


class _Cleaning:
    """An agent whose cleanup runs under a shield: a cancel arriving then waits for it."""

    manifest = Manifest(id="cleaning", name="cleaning")

    def __init__(self) -> None:
        self.in_shield = asyncio.Event()
        self.release = asyncio.Event()
        self.done: list[str] = []

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        with CancelScope(shield=True):
            self.in_shield.set()
            await self.release.wait()
            self.done.append("cleaned up")
        await asyncio.Event().wait()  # the held cancel arrives here
        yield [RunCompleted()]


async def test_a_cancel_waits_for_the_agents_shielded_work(store: SessionStore) -> None:
    agent = _Cleaning()
    runner = Runner(agent, store=store)
    task = asyncio.create_task(_run(runner, "run_sh", timeout=None))
    await agent.in_shield.wait()
    scope = runner._active["run_sh"].step_scope
    assert scope is not None
    runner.cancel("run_sh")
    for _ in range(1000):  # the step scope fires at the next loop turn, held by the shield
        if scope.held:
            break
        await asyncio.sleep(0)
    assert scope.held and agent.done == []
    agent.release.set()
    events = await task
    assert agent.done == ["cleaned up"]
    assert events[-1].type == "run.failed"
    assert events[-1].error is not None and events[-1].error.code == "cancelled"


class _OwnTimeout:
    """An agent whose own wait runs out (a `TimeoutError` that no scope of the run raised)."""

    manifest = Manifest(id="own-timeout", name="own-timeout")

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        yield [MessageCompleted(message=Message.assistant("asking upstream"))]
        raise TimeoutError("upstream did not answer within 5s")


@pytest.mark.parametrize("timeout", [None, 3600.0])
async def test_an_agents_own_timeout_error_is_its_failure_not_the_deadline(
    store: SessionStore, timeout: float | None
) -> None:
    events = await _run(Runner(_OwnTimeout(), store=store), "run_own", timeout=timeout)
    error = events[-1].error
    assert events[-1].type == "run.failed" and error is not None
    assert error.code == "runner.error"
    assert error.message == "TimeoutError: upstream did not answer within 5s"
