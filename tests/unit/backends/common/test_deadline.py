"""Deadline and ReadDeadline: asyncio.timeout's rules, with fewer timers."""

from __future__ import annotations

import asyncio

import pytest

from agenthost.backends.common.http import Deadline, ReadDeadline


async def test_deadline_turns_its_own_cancellation_into_timeout_error() -> None:
    loop = asyncio.get_running_loop()
    never = loop.create_future()
    with pytest.raises(TimeoutError) as info, Deadline(loop.time() + 0.01):
        await never
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # its cancel request was taken back


async def test_deadline_not_reached_leaves_no_trace() -> None:
    loop = asyncio.get_running_loop()
    with Deadline(loop.time() + 60) as deadline:
        await asyncio.sleep(0)
    assert not deadline.expired and deadline._handle.cancelled()


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    loop = asyncio.get_running_loop()
    entered = asyncio.Event()

    async def call() -> None:
        with Deadline(loop.time() + 60):
            entered.set()
            await loop.create_future()

    task = asyncio.create_task(call())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_both_a_timeout_and_an_outside_cancellation_is_a_cancellation() -> None:
    loop = asyncio.get_running_loop()

    async def call() -> None:
        with Deadline(loop.time() - 1):  # already due: fires at the next loop turn
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await loop.create_future()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(call())


async def test_read_deadline_idle_limit_and_whole_call_limit() -> None:
    loop = asyncio.get_running_loop()
    idle = ReadDeadline(loop, loop.time() + 60, 60.0, 0.01)
    with pytest.raises(TimeoutError), idle:
        await loop.create_future()
    assert idle.waited == 0.01
    idle.close()
    whole = ReadDeadline(loop, loop.time() + 0.01, 0.01, 60.0)
    with pytest.raises(TimeoutError), whole:
        await loop.create_future()
    assert whole.waited == 0.01 and whole.seconds == 0.01
    whole.close()


async def test_read_deadline_uses_one_timer_for_many_reads_and_fires_late_reads() -> None:
    loop = asyncio.get_running_loop()
    reads = ReadDeadline(loop, loop.time() + 60, 60.0, 30.0)
    handles = set()
    for _ in range(100):
        with reads:
            await asyncio.sleep(0)
        handles.add(id(reads._timer._handle))
    assert len(handles) == 1  # the later reads' limits are later: the first timer stays
    reads.close()


async def test_read_deadline_timer_firing_during_a_later_read_is_set_again() -> None:
    loop = asyncio.get_running_loop()
    reads = ReadDeadline(loop, loop.time() + 60, 60.0, 0.01)
    with reads:
        await asyncio.sleep(0)
    first = reads._timer._set_for
    reads.idle = 0.02  # the next read's limit is later than the timer's
    with pytest.raises(TimeoutError), reads:
        await loop.create_future()
    assert reads._timer._set_for > first  # fired early for this read, set again, then expired
    assert reads.waited == 0.02
    reads.close()
    assert reads._timer._handle is None


async def test_read_deadline_timer_firing_between_reads_cancels_nothing() -> None:
    loop = asyncio.get_running_loop()
    reads = ReadDeadline(loop, loop.time() + 60, 60.0, 0.01)
    with reads:
        await asyncio.sleep(0)
    fired = asyncio.Event()
    loop.call_at(reads._timer._set_for, fired.set)  # after the timer, same due time
    await fired.wait()  # the timer fired while no read ran
    assert reads._timer._handle is None and not reads.expired
    with pytest.raises(TimeoutError), reads:  # the next read sets it again
        await loop.create_future()
    reads.close()
