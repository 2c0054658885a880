"""`ManualLoop`: an event loop's clock and timers by hand, for code that only asks its loop
for `time()`, `call_at` and `call_later` (timers tested without waiting on the clock).

    loop = ManualLoop()
    timer = RearmingTimer(loop, fired)  # type: ignore[arg-type]
    loop.advance(5.0)                   # the time moves on; the timers due run, in order

`turns_until(condition)`: let the real loop's other tasks run until `condition()` holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def turns_until(condition: Callable[[], bool], turns: int = 100) -> None:
    """Let the other tasks run, a loop turn at a time, until `condition()` holds (what they
    do to get there takes them a few steps, no I/O); fail after `turns` turns."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


class ManualHandle:
    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """Time stands still until `fire()` or `advance()` moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, ManualHandle]] = []  # made and not fired yet
        self.made = 0  # timers made so far

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], Any]) -> ManualHandle:
        self.made += 1
        handle = ManualHandle(when, callback)
        self.timers.append((when, handle))
        return handle

    def call_later(self, delay: float, callback: Callable[[], Any]) -> ManualHandle:
        return self.call_at(self.now + delay, callback)

    def armed(self) -> list[float]:
        """The times the timers not cancelled fire at."""
        return sorted(when for when, handle in self.timers if not handle.cancelled)

    def fire(self) -> None:
        """Run the earliest timer, at its time (a cancelled one runs nothing)."""
        self.timers.sort(key=lambda t: t[0])
        when, handle = self.timers.pop(0)
        self.now = max(self.now, when)
        if not handle.cancelled:
            handle.callback()

    def advance(self, seconds: float) -> None:
        """Move the time on by `seconds`, running each timer due on the way at its time."""
        until = self.now + seconds
        while self.timers and min(when for when, _ in self.timers) <= until:
            self.fire()
        self.now = until
