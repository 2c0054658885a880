"""CancelScope (core/deadlines.py): asyncio.Timeout's rules, re-armable, shielding aware.

Nothing here waits on the clock to synchronise: deadlines are already due (they fire at the
next loop turn), or far away and fired by `cancel()`, and the tests wait on events and on
conditions checked at each loop turn (`_turns_until`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from agenthost.core.deadlines import CancelScope, Deadline, ReadDeadline

FAR = 3600.0  # seconds: a deadline no test reaches


def _now() -> float:
    return asyncio.get_running_loop().time()


def _cancelling() -> int:
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


async def _turns_until(condition: Callable[[], bool], turns: int = 1000) -> None:
    """Let the loop run, one turn at a time, until `condition` holds."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_the_deadline_fires_as_a_timeout_error() -> None:
    never = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError) as info, CancelScope(_now()) as scope:
        await never
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert scope.expired() and not scope.entered
    assert _cancelling() == 0  # the scope took its cancel request back
    await asyncio.sleep(0)  # and left no cancellation behind


async def test_a_scope_whose_deadline_is_not_reached_leaves_no_trace() -> None:
    with CancelScope(_now() + FAR) as scope:
        assert scope.entered
        await asyncio.sleep(0)
    assert not scope.expired() and scope._handle is None
    assert _cancelling() == 0


async def test_an_outside_cancel_while_armed_stays_a_cancelled_error() -> None:
    entered = asyncio.Event()
    seen: list[int] = []

    async def body() -> None:
        with CancelScope(_now() + FAR) as scope:
            entered.set()
            try:
                await asyncio.get_running_loop().create_future()
            finally:
                seen.append(_cancelling())
        raise AssertionError(f"not reached ({scope})")

    task = asyncio.create_task(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [1]  # the outside request is still counted: the scope took nothing back
    assert task.cancelling() == 1


async def test_our_timeout_and_an_outside_cancel_together_are_a_cancellation() -> None:
    scope = CancelScope(_now() + FAR)
    entered = asyncio.Event()
    counts: list[int] = []

    async def body() -> None:
        try:
            with scope:
                entered.set()
                await asyncio.get_running_loop().create_future()
        finally:
            counts.append(_cancelling())

    task = asyncio.create_task(body())
    await entered.wait()
    scope.cancel()
    await _turns_until(scope.expired)  # ours fired; the task has not run since
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts == [1]  # ours taken back, the outside one kept


async def test_a_cancellation_swallowed_before_entry_is_not_taken_back() -> None:
    """Python 3.11: only `uncancel()` lowers `cancelling()`. A task that swallowed an
    outside cancellation before entering keeps that count; the scope takes back its own."""
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0)
    try:
        assert task.cancelling() == 1
        with pytest.raises(TimeoutError), CancelScope(_now()):
            await asyncio.get_running_loop().create_future()
        assert task.cancelling() == 1
    finally:
        task.uncancel()


async def test_cancel_fires_the_scope_now_and_only_while_entered() -> None:
    scope = CancelScope()
    assert not scope.cancel()  # not entered: nothing to cancel
    entered = asyncio.Event()

    async def body() -> None:
        with scope:
            entered.set()
            await asyncio.get_running_loop().create_future()

    task = asyncio.create_task(body())
    await entered.wait()
    assert scope._handle is None  # no deadline: no timer until asked
    assert scope.cancel()
    assert not scope.cancel() or scope._handle is not None
    with pytest.raises(TimeoutError):
        await task
    assert scope.expired() and task.cancelling() == 0
    with pytest.raises(RuntimeError):
        scope.reschedule(_now())  # not entered


async def test_reschedule_moves_the_deadline_and_the_scope_is_re_entered() -> None:
    scope = CancelScope(_now() + FAR)
    with scope:
        first = scope._handle
        scope.reschedule(_now() + 2 * FAR)
        assert first is not None and first.cancelled()
        scope.reschedule(None)  # disarmed
        assert scope._handle is None
        await asyncio.sleep(0)
    assert not scope.expired()
    scope.deadline = _now()
    with pytest.raises(TimeoutError), scope:  # the next entry arms the new deadline
        await asyncio.get_running_loop().create_future()
    assert scope.expired()
    scope.deadline = None
    with scope:  # entered again: fresh state
        assert not scope.expired()
        await asyncio.sleep(0)
    assert not scope.expired() and _cancelling() == 0
    with scope, pytest.raises(RuntimeError):
        scope.__enter__()  # not twice at once


async def test_a_fired_scope_whose_body_swallowed_it_exits_normally_but_expired() -> None:
    with CancelScope(_now()) as scope, contextlib.suppress(asyncio.CancelledError):
        await asyncio.get_running_loop().create_future()
    assert scope.expired() and _cancelling() == 0


async def test_exit_after_the_deadline_passed_but_before_its_callback_ran() -> None:
    scope = CancelScope(_now() - 1)  # passed already: the timer runs at the next loop turn
    with scope:
        pass  # no await: the block ends first
    assert not scope.expired() and _cancelling() == 0
    await asyncio.sleep(0)  # the timer was cancelled: nothing arrives later
    await asyncio.sleep(0)

    done = asyncio.get_running_loop().create_future()
    done.set_result("ready")
    with CancelScope(_now() - 1) as scope:
        assert await done == "ready"  # a done future does not suspend the task
    assert not scope.expired()


async def test_nested_scopes_inner_firing_is_the_inner_blocks_timeout() -> None:
    outer = CancelScope(_now() + FAR)
    with pytest.raises(TimeoutError), outer:
        with pytest.raises(TimeoutError), CancelScope(_now() + FAR) as inner:
            inner.cancel()
            await asyncio.get_running_loop().create_future()
        assert inner.expired() and not outer.expired()
        outer.cancel()  # the outer block goes on; its own firing is a timeout out of it
        await asyncio.get_running_loop().create_future()
    assert outer.expired() and _cancelling() == 0


async def test_nested_scopes_outer_firing_passes_the_inner_scope_unchanged() -> None:
    outer = CancelScope(_now() + FAR)
    passed: list[bool] = []
    with pytest.raises(TimeoutError), outer:
        try:
            with CancelScope(_now() + FAR) as inner:
                outer.cancel()
                await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            passed.append(True)
            raise
    assert passed == [True] and not inner.expired()
    assert outer.expired() and _cancelling() == 0


async def test_an_outer_asyncio_timeout_is_not_taken_for_ours() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            with CancelScope(_now() + FAR) as scope:
                await asyncio.get_running_loop().create_future()
    assert not scope.expired() and _cancelling() == 0


async def test_a_shield_holds_an_outer_scope_until_its_block_ends() -> None:
    outer = CancelScope(_now() + FAR)
    steps: list[str] = []
    with pytest.raises(TimeoutError), outer:
        with CancelScope(shield=True) as shield:
            outer.cancel()
            await _turns_until(lambda: outer.held)  # outer fired (deferred)
            await asyncio.sleep(0)  # the shielded block goes on awaiting
            steps.append("shielded work done")
        assert not shield.expired()
        steps.append("after the shield")
        await asyncio.get_running_loop().create_future()  # the outer firing arrives here
    assert steps == ["shielded work done", "after the shield"]
    assert outer.expired() and _cancelling() == 0


async def test_a_shields_own_deadline_still_applies() -> None:
    with pytest.raises(TimeoutError), CancelScope(_now(), shield=True) as shield:
        await asyncio.get_running_loop().create_future()
    assert shield.expired() and _cancelling() == 0


async def test_a_scope_inside_a_shield_is_not_held_by_it() -> None:
    with CancelScope(shield=True):
        with pytest.raises(TimeoutError), CancelScope(_now()) as inner:
            await asyncio.get_running_loop().create_future()
        assert inner.expired()


async def test_nested_shields_deliver_the_outer_firing_after_the_outermost_shield() -> None:
    outer = CancelScope(_now() + FAR)
    with pytest.raises(TimeoutError), outer:
        with CancelScope(shield=True):
            with CancelScope(shield=True):
                outer.cancel()
                await _turns_until(lambda: outer.held)
            await _turns_until(lambda: outer.held)  # fired again, held by the outer shield
            assert not outer.expired()
        await asyncio.get_running_loop().create_future()
    assert outer.expired()


async def test_rescheduling_a_held_scope_supersedes_its_deferred_firing() -> None:
    outer = CancelScope(_now() + FAR)
    with outer:
        with CancelScope(shield=True):
            outer.cancel()
            await _turns_until(lambda: outer.held)
            outer.reschedule(_now() + FAR)  # moved away again
        for _ in range(3):
            await asyncio.sleep(0)
    assert not outer.expired() and _cancelling() == 0


async def test_shields_of_other_tasks_do_not_hold_this_one() -> None:
    holding = asyncio.Event()
    release = asyncio.Event()

    async def shielded() -> None:
        with CancelScope(shield=True):
            holding.set()
            await release.wait()

    other = asyncio.create_task(shielded())
    await holding.wait()
    with pytest.raises(TimeoutError), CancelScope(_now()):
        await asyncio.get_running_loop().create_future()
    release.set()
    await other


def test_a_scope_needs_a_task() -> None:
    loop = asyncio.new_event_loop()
    try:
        scope = CancelScope(loop=loop)
        with pytest.raises(RuntimeError):
            scope.__enter__()
        assert not scope.entered
    finally:
        loop.close()


async def test_a_kept_timer_serves_every_block_until_closed() -> None:
    scope = CancelScope(_now() + FAR, keep_timer=True)
    handles = set()
    for _ in range(5):
        with scope:
            await asyncio.sleep(0)
        handles.add(id(scope._handle))
    assert len(handles) == 1 and scope._handle is not None  # one timer, still set
    scope.deadline = _now() + 2 * FAR  # a new deadline: the next block sets a new timer
    kept = scope._handle
    with scope:
        pass
    assert kept.cancelled() and scope._handle is not kept
    scope.close()
    assert _cancelling() == 0
    assert scope._handle is None


async def test_a_kept_timer_firing_between_blocks_times_out_the_next_block() -> None:
    scope = CancelScope(_now(), keep_timer=True)  # due: its timer runs at this turn's end
    with scope:
        pass  # ended before it ran
    await _turns_until(lambda: scope._handle is None)  # it ran between blocks: nothing to do
    assert not scope.expired() and _cancelling() == 0
    with pytest.raises(TimeoutError), scope:  # the next block is past the deadline
        await asyncio.get_running_loop().create_future()
    assert scope.expired() and _cancelling() == 0


async def test_a_kept_timer_is_dropped_when_the_deadline_is_taken_away() -> None:
    """`deadline = None` between blocks: the next block has no timer, the kept one included."""
    scope = CancelScope(_now(), keep_timer=True)  # due: its timer runs at this turn's end
    with scope:
        pass  # ended before it ran: the timer is kept
    kept = scope._handle
    assert kept is not None
    scope.deadline = None
    with scope:
        await asyncio.sleep(0)  # the kept timer would fire here
        await asyncio.sleep(0)
    assert kept.cancelled() and scope._handle is None
    assert not scope.expired() and _cancelling() == 0


async def test_deadlines_given_their_loop_do_not_look_up_the_running_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On CPython 3.11 each running-loop look-up is a `getpid` system call: a Deadline given
    its loop, and a ReadDeadline (which always has it), find their task without one."""
    loop = asyncio.get_running_loop()
    reads = ReadDeadline(loop, loop.time() + FAR, FAR, None)

    def no_lookup() -> asyncio.AbstractEventLoop:
        raise AssertionError("the running loop was looked up")

    monkeypatch.setattr(asyncio.events, "get_running_loop", no_lookup)
    try:
        with Deadline(loop.time() + FAR, loop=loop) as deadline:
            pass
        with reads:
            pass
    finally:
        reads.close()
    assert not deadline.expired and not reads.expired


async def test_a_deadline_given_its_loop_still_times_out() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError), Deadline(loop.time(), loop=loop):
        await loop.create_future()
