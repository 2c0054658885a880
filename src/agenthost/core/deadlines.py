"""Deadlines that cancel the current task, with asyncio's Timeout rule written once.

`asyncio.timeout` costs two coroutine frames and a state machine per block; the runner and the
model clients enter a deadline around every step and every read, so they use these instead:

- `CancelScope`: a plain `with` around an await, cancelled at its `deadline` (event-loop time,
  None: only when asked), re-armable while entered (`reschedule`, `cancel`), re-enterable
  (one object serves every step of a run), and shielding aware (`shield=True`).
- `Deadline`: the cheapest one-shot scope (one timer, nothing else), for a model call.
- `ReadDeadline`: the reads of one streamed response under one timer.

The exit rule, `leave_scope` (that of `asyncio.Timeout.__aexit__`): when the scope's own timer
cancelled the task, and no other cancellation of the task is pending, the `CancelledError`
leaving the block becomes `TimeoutError` (raised `from` it) and the task's cancel count is
taken back (`Task.uncancel()`, so the count is right on Python 3.11, where nothing else
resets it). A cancellation from elsewhere (`task.cancel()`, an outer `asyncio.timeout`, or one
arriving as well as ours) leaves the block unchanged as `CancelledError`. A scope whose
deadline passes while its block is ending (the timer not yet run) exits normally: the timer is
cancelled and the task never sees it.

Shielding: while a `CancelScope(shield=True)` is entered, enclosing `CancelScope`s of the same
task that fire (deadline, `cancel()`) do not cancel the task: they are delivered at the next
await after the shield's block ends. The shield's own deadline still applies. A shield cannot
stop `task.cancel()` from elsewhere, nor an enclosing `asyncio.timeout`, `Deadline` or
`ReadDeadline` (those wrap single I/O calls, never a shield).
"""

from __future__ import annotations

import asyncio
from typing import Any

from agenthost.core.timers import RearmingTimer

__all__ = ["CancelScope", "Deadline", "ReadDeadline", "leave_scope"]

# the innermost entered shield of each task that has one (usually empty: one cheap lookup)
_shields: dict[asyncio.Task[Any], CancelScope] = {}

_IDLE, _ENTERED, _DEFERRED, _EXPIRING, _EXPIRED = range(5)


def leave_scope(
    expired: bool,
    task: asyncio.Task[Any],
    cancelling: int,
    exc_type: type[BaseException] | None,
    exc: object,
) -> None:
    """The Timeout rule, for a scope leaving its block: `expired` says its own timer cancelled
    `task` (whose `cancelling()` was `cancelling` on entry). Takes that cancel request back,
    and raises `TimeoutError` when the block leaves with that cancellation and no other one."""
    if (
        expired
        and task.uncancel() <= cancelling
        and exc_type is not None
        and issubclass(exc_type, asyncio.CancelledError)
    ):
        raise TimeoutError from exc  # type: ignore[misc]


def _current_task(what: str, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[Any]:
    task = asyncio.current_task(loop)
    if task is None:
        raise RuntimeError(f"{what} must be used inside a task")
    return task


class CancelScope:
    """`with CancelScope(deadline):` cancels the block at `deadline` (event-loop time; None: no
    timer), and that cancellation leaves the block as `TimeoutError` (`leave_scope`).

    One `loop.call_at` handle at the most; `reschedule(when)` moves it while the block runs,
    `cancel()` fires it now. After the block, `expired()` says whether the scope cancelled it
    (True even when the block swallowed the cancellation). The scope may be entered again
    (not while entered); each entry arms `deadline` (changed between blocks or not). `loop`,
    when given, saves the running-loop lookup on entry.

    `keep_timer=True`, for a scope entered many times with one deadline (a run's steps): the
    timer stays set between blocks instead of being made and cancelled for each (a timer
    firing between blocks does nothing, and the next block, past its deadline, is cancelled at
    its first await); `close()` cancels it when the scope is done with.
    """

    __slots__ = (
        "_armed_for",
        "_cancelling",
        "_deferred",
        "_handle",
        "_keep",
        "_loop",
        "_outer_shield",
        "_state",
        "_task",
        "deadline",
        "shield",
    )

    def __init__(
        self,
        deadline: float | None = None,
        *,
        shield: bool = False,
        keep_timer: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.deadline = deadline
        self.shield = shield
        self._keep = keep_timer
        self._armed_for: float | None = None  # the `when` of `_handle`
        self._loop = loop
        self._state = _IDLE
        self._task: asyncio.Task[Any] | None = None
        self._handle: asyncio.Handle | None = None
        self._cancelling = 0
        self._outer_shield: CancelScope | None = None  # the task's shield when we entered
        self._deferred: list[CancelScope] | None = None  # outer scopes that fired in our block

    def __enter__(self) -> CancelScope:
        if _IDLE < self._state < _EXPIRED:
            raise RuntimeError("this CancelScope is entered already")
        task = self._task = _current_task("CancelScope", self._loop)
        self._cancelling = task.cancelling()
        self._state = _ENTERED
        self._outer_shield = _shields.get(task) if _shields else None
        if self.shield:
            _shields[task] = self
        deadline = self.deadline
        handle = self._handle
        if handle is not None and self._armed_for != deadline:  # kept for another deadline
            handle.cancel()
            handle = self._handle = None
        if handle is None and deadline is not None:  # else kept from the last block
            self._arm(task.get_loop(), deadline)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        handle = self._handle
        if handle is not None and not (self._keep and self._armed_for == self.deadline):
            handle.cancel()
            self._handle = None
        task = self._task
        assert task is not None
        self._task = None
        if self.shield:
            self._leave_shield(task)
        if self._state == _EXPIRING:
            self._state = _EXPIRED
            leave_scope(True, task, self._cancelling, exc_type, exc)
        else:
            self._state = _IDLE

    @property
    def entered(self) -> bool:
        return _IDLE < self._state < _EXPIRED

    @property
    def held(self) -> bool:
        """It fired while a shield inside its block held it: it fires when that shield ends."""
        return self._state == _DEFERRED

    def expired(self) -> bool:
        """The scope cancelled its block (this entry, or the last one once it has ended)."""
        return self._state >= _EXPIRING

    def reschedule(self, when: float | None) -> None:
        """Move the deadline of the block being run to `when` (None: no timer). An expired
        scope stays expired."""
        if self._state not in (_ENTERED, _DEFERRED):
            raise RuntimeError("the CancelScope is not entered (or has fired)")
        self._state = _ENTERED  # a fire deferred by a shield is superseded
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if when is not None:
            assert self._task is not None
            self._arm(self._task.get_loop(), when)

    def cancel(self) -> bool:
        """Cancel the block being run (at the next loop turn); False when no block is running
        or the scope has fired already."""
        if self._state != _ENTERED:
            return False
        assert self._task is not None
        self.reschedule(self._task.get_loop().time())
        return True

    def close(self) -> None:
        """Cancel the timer a `keep_timer` scope keeps between blocks."""
        if self._handle is not None and not self.entered:
            self._handle.cancel()
            self._handle = None

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._armed_for = when
        # as asyncio.Timeout: a due deadline fires at this loop turn's end, before callbacks
        # scheduled after it (a cancel from elsewhere), not at the next turn's timers
        if when <= loop.time():
            self._handle = loop.call_soon(self._fire)
        else:
            self._handle = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._state != _ENTERED:
            return
        task = self._task
        assert task is not None
        shield = _shields.get(task) if _shields else None
        if shield is not None and shield is not self and shield is not self._outer_shield:
            # a shield entered inside our block holds it: deliver when that shield ends
            self._state = _DEFERRED
            if shield._deferred is None:
                shield._deferred = [self]
            else:
                shield._deferred.append(self)
            return
        self._state = _EXPIRING
        task.cancel()

    def _leave_shield(self, task: asyncio.Task[Any]) -> None:
        outer = self._outer_shield
        if outer is None:
            del _shields[task]
        else:
            _shields[task] = outer
        deferred, self._deferred = self._deferred, None
        for scope in deferred or ():
            if scope._state == _DEFERRED:  # fire again: an outer shield may hold it still
                scope._state = _ENTERED
                scope._handle = task.get_loop().call_soon(scope._fire)


class Deadline:
    """`with Deadline(when):` is `async with asyncio.timeout_at(when):` as a plain `with`.

    At `when` (event-loop time) the task is cancelled, and that cancellation leaves the block as
    `TimeoutError` (`leave_scope`). One timer and nothing else (measured, one block around an
    `await`: 2.4-2.8 µs against 3.7-4.3 µs for asyncio's, asyncio's loop and uvloop alike).
    """

    __slots__ = ("_cancelling", "_handle", "_loop", "_task", "expired", "when")

    def __init__(self, when: float, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.when = when
        self.expired = False
        self._loop = loop  # when given, saves the running-loop look-up (a `getpid`) on entry

    def __enter__(self) -> Deadline:
        task = self._task = _current_task("Deadline", self._loop)
        self._cancelling = task.cancelling()
        self._handle = task.get_loop().call_at(self.when, self._expire)
        return self

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._handle.cancel()
        leave_scope(self.expired, self._task, self._cancelling, exc_type, exc)


class ReadDeadline:
    """The deadlines of the reads of one streamed response, with one timer for all of them.

    Each `with deadline:` block (sending the request, then every read that has to wait) must
    end within `idle` seconds (None: no such limit) and before `deadline` (event-loop time),
    else it leaves as `TimeoutError` (`leave_scope`); `waited` is then the setting that ran out
    (`idle`, or `seconds`: the call's whole timeout). Time between blocks (the caller handling
    what was read) counts towards `deadline` only.

    A block costs a clock read and a comparison: the timer, set for the first block's limit,
    is moved only when a block needs an earlier one (a block's limit only grows, until the
    call's deadline caps it). When it fires during a block that may run on, it is set again
    for that block's limit; outside a block it does nothing and the next block sets it. A
    stream of 1,000 reads thus makes one or a few timers instead of 1,000. `close()` when the
    response is done.
    """

    __slots__ = (
        "_cancelling",
        "_loop",
        "_task",
        "_timer",
        "deadline",
        "expired",
        "idle",
        "seconds",
        "waited",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, deadline: float, seconds: float, idle: float | None
    ) -> None:
        self._loop = loop
        self.deadline = deadline
        self.seconds = seconds
        self.idle = idle
        self.waited = seconds
        self.expired = False
        # armed for each block's limit; stood down between blocks (it lapses if it fires then)
        self._timer = RearmingTimer(loop, self._expire)

    def __enter__(self) -> ReadDeadline:
        self._cancelling = (task := _current_task("ReadDeadline", self._loop)).cancelling()
        self._task = task
        idle = self.idle
        if idle is not None and (limit := self._loop.time() + idle) < self.deadline:
            self.waited = idle
        else:
            limit = self.deadline
            self.waited = self.seconds
        self._timer.arm(limit)
        return self

    def _expire(self) -> None:  # this block has waited until its limit
        self.expired = True
        self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._timer.deadline = None
        expired, self.expired = self.expired, False
        leave_scope(expired, self._task, self._cancelling, exc_type, exc)

    def close(self) -> None:
        self._timer.close()
