"""The run-stream port: a run's events and its cancel signal, for every process of a cluster.

A server or worker that drives a run publishes each event as it goes, with the event's frame
position (`seq`, `k`: see server/runs.py; the SSE `id:` is `"seq"` or `"seq.k"`). Any other
process can then read the run live or resume it after a position (`Last-Event-ID`), and ask
for it to be cancelled; the process that drives it hears the request (`cancels()`) and
cancels it there.

- `describe(run_id, meta)` / `meta(run_id)`: who the run belongs to (agent, user, session) and
  its status, so a replica can check ownership before it streams or cancels a run it does not
  drive.
- `publish(run_id, frames)`: append frames in order; a frame at or before the newest one
  already there is skipped (idempotent: a run recovered or retried elsewhere may publish what
  is there already).
- `read(run_id, after, block)`: the frames after a position, waiting up to `block` seconds for
  one when there is none yet; `[]` when none came.
- `first(run_id)`: the oldest position still held (older ones were trimmed), None if none.
- `cancel(run_id, reason)` / `cancel_requested(run_id)` / `cancels()`: the cancel signal, kept
  for a while (a run queued but not started sees it when it starts) and broadcast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

from agenthost.core.events import Event

Position = tuple[int, int]


@runtime_checkable
class RunStreams(Protocol):
    async def describe(self, run_id: str, meta: dict[str, Any]) -> None: ...

    async def meta(self, run_id: str) -> dict[str, Any] | None: ...

    async def publish(self, run_id: str, frames: Sequence[tuple[Position, Event]]) -> None: ...

    async def read(
        self, run_id: str, *, after: Position, block: float | None
    ) -> list[tuple[Position, Event]]: ...

    async def first(self, run_id: str) -> Position | None: ...

    async def cancel(self, run_id: str, reason: str) -> None: ...

    async def cancel_requested(self, run_id: str) -> str | None: ...

    def cancels(self) -> AsyncIterator[tuple[str, str]]: ...
