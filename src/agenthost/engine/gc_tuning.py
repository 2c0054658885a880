"""The cyclic garbage collector's settings in a process that runs agents (once, at the first
`Runner` entered).

With CPython's defaults a young collection runs every 700 net allocations of container
objects, and every tenth of them scans the middle generation too. A run holds about 150 such
objects while it waits for its model (aiohttp's request and response, the run's events,
context and host), against about 90 for a bare HTTP loop. With many runs in flight nearly all
of them survive the young collections that their neighbours' allocations keep triggering, so
the collector scans them again and again and promotes them to the old generation, whose full
scan then walks every run in flight. Measured with 500 sessions at once
(`benchmarks/concurrency.py`, process CPU of the timed part, a loaded machine): about 150
young and 13 middle collections and one full one; 0.62-0.87 s of CPU with the defaults and
0.52-0.67 s with the setting below (memory store; SQLite 0.79-0.99 s and 0.51-0.73 s), while
the bare aiohttp loop took 0.28-0.37 s with either.

So the first Runner entered in a process raises the young generation's threshold to
`YOUNG_THRESHOLD` allocations (never lowers it). Runs leave no reference cycles behind
(`ActiveRun.release`), so their objects are freed by reference counting and the rarer
collections find little: memory does not grow from it. (What start-up loaded is kept out of
the collections by `gc.freeze()` in the server and the CLI, after their own start-up; the
Runner does not freeze: in a library, objects alive at that moment that later became
garbage in a cycle would never be freed.)

Set `AGENTHOST_GC=default` to leave the collector as it is (an application that tunes it
itself); a disabled collector (`gc.disable()`) is left alone too.
"""

from __future__ import annotations

import gc
import os
from typing import Final

YOUNG_THRESHOLD: Final = 10_000
ENV: Final = "AGENTHOST_GC"

_tuned = False


def tune(thresholds: tuple[int, int, int] | None = None) -> bool:
    """Apply the settings above once per process; True when this call applied them.

    `thresholds` (young, middle, old) replaces them all: a process that knows its load (the
    server) sets its own before any Runner is entered.
    """
    global _tuned
    if _tuned or not gc.isenabled() or os.environ.get(ENV, "").lower() == "default":
        return False
    _tuned = True
    young, middle, old = gc.get_threshold()
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    elif 0 < young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return True
