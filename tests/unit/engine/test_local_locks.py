"""`SessionLocks.hold` without a lease store (engine/locks.py `_LocalHold`): queueing, the
busy policies, a waiter that gives up, a failing body, and no slot left behind."""

from __future__ import annotations

import asyncio

import pytest

from agenthost.core.errors import SessionBusy
from agenthost.core.session import SessionKey
from agenthost.engine.locks import SessionLocks

KEY = SessionKey("app", "user", "s1")


def _never(run_id: str) -> None:
    raise AssertionError(f"nothing to interrupt, got {run_id}")


async def test_runs_of_one_session_take_turns_and_leave_no_slot() -> None:
    locks = SessionLocks()
    order: list[str] = []
    inside = asyncio.Event()
    go = asyncio.Event()

    async def first() -> None:
        async with locks.hold(KEY, policy="queue", run_id="r1", interrupt=_never) as lease:
            assert lease is None
            assert locks.active_run(KEY) == "r1"
            inside.set()
            await go.wait()
            order.append("r1")

    async def second() -> None:
        async with locks.hold(KEY, policy="queue", run_id="r2", interrupt=_never):
            assert locks.active_run(KEY) == "r2"
            order.append("r2")

    one = asyncio.create_task(first())
    await inside.wait()
    two = asyncio.create_task(second())
    await asyncio.sleep(0)  # one loop pass: the second run waits for the lock
    assert locks._slots[KEY].users == 2
    go.set()
    await asyncio.gather(one, two)
    assert order == ["r1", "r2"]
    assert not locks.is_locked(KEY) and locks.active_run(KEY) is None
    assert locks._slots == {}


async def test_reject_and_interrupt_see_the_holder() -> None:
    locks = SessionLocks()
    interrupted: list[str] = []
    asked = asyncio.Event()

    def interrupt(run_id: str) -> None:
        interrupted.append(run_id)
        asked.set()

    async with locks.hold(KEY, policy="queue", run_id="r1", interrupt=_never):
        with pytest.raises(SessionBusy):
            async with locks.hold(KEY, policy="reject", run_id="r2", interrupt=_never):
                raise AssertionError("not reached")
        waiter = asyncio.create_task(_hold_once(locks, "interrupt", "r3", interrupt))
        await asked.wait()
        assert interrupted == ["r1"]
    await waiter
    assert locks._slots == {}


async def _hold_once(locks: SessionLocks, policy: str, run_id: str, interrupt: object) -> None:
    async with locks.hold(KEY, policy=policy, run_id=run_id, interrupt=interrupt):  # type: ignore[arg-type]
        assert locks.active_run(KEY) == run_id


async def test_a_waiter_that_gives_up_and_a_failing_body_leave_nothing_held() -> None:
    locks = SessionLocks()
    async with locks.hold(KEY, policy="queue", run_id="r1", interrupt=_never):
        waiter = asyncio.create_task(_hold_once(locks, "queue", "r2", _never))
        await asyncio.sleep(0)  # one loop pass: the waiter runs until it waits for the lock
        assert locks._slots[KEY].users == 2
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert locks._slots[KEY].users == 1
    assert locks._slots == {}
    with pytest.raises(ValueError, match="boom"):
        async with locks.hold(KEY, policy="queue", run_id="r4", interrupt=_never):
            raise ValueError("boom")
    assert not locks.is_locked(KEY) and locks._slots == {}
