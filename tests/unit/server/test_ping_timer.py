"""`PingTimer`: one keep-alive timer for all the waits of a stream (`RunChannel.wait`)."""

from __future__ import annotations

import asyncio

from agenthost.core.messages import Message
from agenthost.server.runs import PingTimer, RunChannel, RunRequest

TIMEOUT = 0.05


def _channel() -> RunChannel:
    request = RunRequest(agent="a", user_id="u", session_id="s", message=Message.user("x"))
    return RunChannel(request, None, capacity=8)  # type: ignore[arg-type] # no run here


async def test_each_wait_lasts_its_whole_timeout_and_one_timer_serves_them() -> None:
    loop = asyncio.get_running_loop()
    channel = _channel()
    timer = PingTimer(loop, TIMEOUT)
    began = loop.time()
    assert await channel.wait(0, TIMEOUT, ping=timer) is False
    assert loop.time() - began >= TIMEOUT - 0.002  # libuv / asyncio timer granularity
    assert timer.waiter is None and channel._waiters == []
    # a wait woken early leaves the timer armed for its deadline; the next wait, begun later,
    # is not cut short by it: the timer re-arms itself for the later deadline
    woken = asyncio.ensure_future(channel.wait(0, TIMEOUT, ping=timer))
    await asyncio.sleep(0)
    channel.close()
    assert await woken is True
    second = _channel()
    await asyncio.sleep(TIMEOUT / 2)
    began = loop.time()
    assert await second.wait(0, TIMEOUT, ping=timer) is False
    assert loop.time() - began >= TIMEOUT - 0.002
    timer.close()


async def test_a_cancelled_wait_leaves_no_waiter_and_the_timer_lapses() -> None:
    loop = asyncio.get_running_loop()
    channel = _channel()
    timer = PingTimer(loop, TIMEOUT)
    waiting = asyncio.ensure_future(channel.wait(0, TIMEOUT, ping=timer))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert channel._waiters == [] and timer.waiter is None
    await asyncio.sleep(TIMEOUT * 2)  # the timer fires with no wait going on: nothing happens
    assert timer._handle is None
    timer.close()
