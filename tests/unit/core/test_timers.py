"""`RearmingTimer` (core/timers.py): one loop timer for a deadline that keeps moving later.

The rules are tested on a `ManualLoop` (time and timers by hand); on the real loop, only with
deadlines already due (they fire at the next loop turn) and events."""

from __future__ import annotations

import asyncio

from agenthost.core.timers import RearmingTimer
from tests.unit.manual_loop import ManualLoop


def _timer(loop: ManualLoop) -> tuple[RearmingTimer, list[float]]:
    fired: list[float] = []
    timer = RearmingTimer(loop, lambda: fired.append(loop.now))  # type: ignore[arg-type]
    return timer, fired


def test_it_runs_the_callback_once_at_the_deadline() -> None:
    loop = ManualLoop()
    timer, fired = _timer(loop)
    timer.arm(5.0)
    loop.advance(4.9)
    assert fired == []
    loop.advance(10)
    assert fired == [5.0] and timer.deadline is None and loop.armed() == []


def test_a_deadline_moved_later_makes_no_timer_until_the_armed_one_fires() -> None:
    loop = ManualLoop()
    timer, fired = _timer(loop)
    for now in (0.0, 1.0, 2.0, 3.0):  # a deadline moved on at every request
        loop.now = now
        timer.arm(now + 5)
    assert loop.made == 1 and loop.armed() == [5.0]
    loop.advance(2)  # t=5: fired early: armed again, once, for the deadline
    assert fired == [] and loop.made == 2 and loop.armed() == [8.0]
    loop.advance(3)
    assert fired == [8.0] and loop.made == 2


def test_a_deadline_moved_earlier_moves_the_timer() -> None:
    loop = ManualLoop()
    timer, fired = _timer(loop)
    timer.arm(10.0)
    timer.arm(4.0)
    assert loop.armed() == [4.0]
    loop.advance(20)
    assert fired == [4.0]


def test_stood_down_it_lapses_and_the_next_arm_starts_it_again() -> None:
    loop = ManualLoop()
    timer, fired = _timer(loop)
    timer.arm(5.0)
    timer.deadline = None  # busy
    loop.advance(6)
    assert fired == [] and loop.armed() == []
    timer.arm(loop.now + 5)
    loop.advance(5)
    assert fired == [11.0]


def test_the_callback_may_arm_it_again() -> None:
    loop = ManualLoop()
    fired: list[float] = []

    def tick() -> None:
        fired.append(loop.now)
        if len(fired) < 3:
            timer.arm(loop.now + 2)

    timer = RearmingTimer(loop, tick)  # type: ignore[arg-type]
    timer.arm(2.0)
    loop.advance(100)
    assert fired == [2.0, 4.0, 6.0] and loop.made == 3


def test_close_cancels_it_for_good() -> None:
    loop = ManualLoop()
    timer, fired = _timer(loop)
    timer.arm(5.0)
    timer.close()
    assert loop.armed() == [] and timer.deadline is None
    timer.arm(7.0)  # closed: nothing runs
    loop.advance(10)
    assert fired == []


async def test_on_the_real_loop_a_due_deadline_fires_at_the_next_turns() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    timer = RearmingTimer(loop, done.set)
    timer.arm(loop.time())  # due: moved on to a deadline already passed as well
    timer.arm(loop.time())
    async with asyncio.timeout(60):  # a guard against hanging, not a time limit
        await done.wait()
    assert timer.deadline is None and timer._handle is None
    timer.close()
