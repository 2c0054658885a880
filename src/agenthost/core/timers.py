"""`RearmingTimer`: a deadline that keeps moving later, kept by one loop timer.

What waits for such a deadline (a keep-alive connection's idle time, which each response's end
starts again; a stream's ping, which each wait for the run's next events starts again; each
read of a model's streamed answer, `deadlines.ReadDeadline`) would
cancel a timer and make a new one at every move: a `TimerHandle` made and cancelled per
request or per wait (about 2 µs of uvloop's each, and most of them never fire). This keeps one
handle instead:

- `arm(deadline)` sets the deadline (event-loop time) and arms the handle only when none is
  armed, or when the deadline moved earlier than the armed one;
- when the handle fires before the deadline (it moved later since the handle was armed), it is
  armed again for the deadline; at the deadline, the deadline is cleared and `callback()` runs;
- `deadline = None` (a plain attribute, for hot paths) stands it down: the armed handle lapses
  when it fires, and the next `arm` starts it again;
- `close()` cancels the handle (and lets go of `callback`, which often holds the owner).

The handle remembers the time it was armed for, so whether it fired early is decided without
reading the clock again (a handle that a loop runs a little before its time, as uvloop's
millisecond timers may, is not armed again for the fraction left).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["RearmingTimer"]


def _closed() -> None:
    pass


class RearmingTimer:
    """One deadline, one `loop.call_at` handle at a time; `callback()` runs at the deadline."""

    __slots__ = ("_callback", "_handle", "_set_for", "deadline", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
        self.loop = loop
        self._callback = callback
        self.deadline: float | None = None  # None: stood down (a handle still armed lapses)
        self._handle: asyncio.TimerHandle | None = None
        self._set_for = 0.0  # the loop time the armed handle fires at

    def __repr__(self) -> str:
        return f"<RearmingTimer deadline={self.deadline} armed={self._handle is not None}>"

    def arm(self, deadline: float) -> None:
        """Run `callback` at `deadline` (loop time), in place of any earlier deadline."""
        self.deadline = deadline
        handle = self._handle
        if handle is None or deadline < self._set_for:
            if handle is not None:
                handle.cancel()
            self._handle = self.loop.call_at(deadline, self._fire)
            self._set_for = deadline

    def _fire(self) -> None:
        self._handle = None
        deadline = self.deadline
        if deadline is None:
            return  # stood down: the next `arm` arms it again
        if deadline > self._set_for:  # moved later since armed: wait for it
            self._handle = self.loop.call_at(deadline, self._fire)
            self._set_for = deadline
            return
        self.deadline = None
        self._callback()

    def close(self) -> None:
        """Cancel it for good (`arm` after this runs nothing)."""
        self.deadline = None
        self._callback = _closed
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
