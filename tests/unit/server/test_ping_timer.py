"""`PingTimer`: one keep-alive timer for all the waits of a stream (`RunChannel.wait`).

The timer runs on a `ManualLoop` (its time moves only when a test says so); the channel's
waits are futures of the real loop, and the tests wait on them and on conditions checked at
each loop turn, never on the clock."""

from __future__ import annotations

import asyncio
from typing import Any

from agenthost.core.messages import Message
from agenthost.server.runs import PingTimer, RunChannel, RunRequest
from tests.unit.manual_loop import ManualLoop, turns_until

TIMEOUT = 15.0


def _channel() -> RunChannel:
    request = RunRequest(agent="a", user_id="u", session_id="s", message=Message.user("x"))
    return RunChannel(request, None, capacity=8)  # type: ignore[arg-type] # no run here


def _timer(clock: ManualLoop) -> PingTimer:
    return PingTimer(clock, TIMEOUT)  # type: ignore[arg-type] # time and timers by hand


async def _waiting(channel: RunChannel, timer: PingTimer) -> asyncio.Future[Any]:
    """A wait on `channel` with `timer`, once it waits."""
    wait = asyncio.ensure_future(channel.wait(0, TIMEOUT, ping=timer))
    await turns_until(lambda: bool(channel._waiters))
    return wait


async def test_each_wait_lasts_its_whole_timeout_and_one_timer_serves_them() -> None:
    clock = ManualLoop()
    timer = _timer(clock)
    channel = _channel()
    wait = await _waiting(channel, timer)
    clock.advance(TIMEOUT - 1)
    assert not channel._waiters[0].done()
    clock.advance(1)  # t=15: its whole timeout
    assert await wait is False
    assert timer.waiter is None and channel._waiters == [] and clock.made == 1
    # a wait woken early leaves the timer armed for its deadline (t=30)...
    wait = await _waiting(channel, timer)
    clock.advance(5)
    channel.close()
    assert await wait is True
    assert clock.armed() == [30.0] and clock.made == 2
    # ...and the next wait, begun later (t=20, until t=35), is not cut short by it: the timer
    # re-arms itself for the later deadline, and no timer is made for the wait itself
    second = _channel()
    wait = await _waiting(second, timer)
    assert clock.made == 2
    clock.advance(10)  # t=30
    assert not second._waiters[0].done() and clock.armed() == [35.0]
    clock.advance(5)  # t=35
    assert await wait is False
    timer.close()
    assert clock.armed() == []


async def test_a_cancelled_wait_leaves_no_waiter_and_the_timer_lapses() -> None:
    clock = ManualLoop()
    timer = _timer(clock)
    channel = _channel()
    wait = await _waiting(channel, timer)
    wait.cancel()
    await asyncio.gather(wait, return_exceptions=True)
    assert channel._waiters == [] and timer.waiter is None and timer.deadline is None
    clock.advance(2 * TIMEOUT)  # the timer fires with no wait going on: nothing happens
    assert clock.armed() == [] and timer._handle is None
    wait = await _waiting(channel, timer)  # the next wait arms it again
    assert clock.armed() == [clock.now + TIMEOUT]
    clock.advance(TIMEOUT)
    assert await wait is False
    timer.close()


async def test_a_wait_woken_in_the_turn_its_timer_fires_stays_woken() -> None:
    """The run's next event and the timer in the same loop turn: the wait answers True (the
    event), and the timer's firing after it changes nothing."""
    clock = ManualLoop()
    timer = _timer(clock)
    channel = _channel()
    wait = await _waiting(channel, timer)
    channel.close()  # the waiter is woken, its task not resumed yet
    clock.advance(TIMEOUT)
    assert await wait is True
    assert timer.waiter is None and channel._waiters == []
    timer.close()
