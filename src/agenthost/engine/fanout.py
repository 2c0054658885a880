"""A TaskGroup that an agent's async generator may hold across its `yield`s.

Agents that fan out (ParallelAgent's branches, PluginAgent's host calls) start tasks and keep
yielding results while those tasks run. Two things go wrong with a bare `asyncio.TaskGroup`
held across a yield (PEP 789):

- A child that raises makes the group cancel its parent task, and while the generator is
  suspended that task is busy elsewhere (the runner storing an event, the caller reading
  one), which would be cancelled instead. So children started here never raise: an
  exception is logged and swallowed; children report their own failures (a branch result, an
  error response) before they end. Cancellation still propagates.
- When the consumer closes the generator (`aclose()` after a cancel), GeneratorExit arrives at
  the yield and the group wraps it in a BaseExceptionGroup, which `aclose()` would re-raise.
  `FanOut` re-raises the original exception when it is the only one.

Leaving the block, normally or not, cancels and awaits every child that is still running, so
cancellation and the run's deadline reach them (they run in the run's task tree).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

log = logging.getLogger("agenthost.fanout")


class FanOut:
    """`async with FanOut() as fan: fan.start(coro); ... yield ...`"""

    __slots__ = ("_group", "_tasks")

    def __init__(self) -> None:
        self._group = asyncio.TaskGroup()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FanOut:
        await self._group.__aenter__()
        return self

    def start(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[None]:
        """Run `coro` in the group; its exceptions are logged, never raised."""
        task = self._group.create_task(_guarded(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_all(self) -> None:
        """Cancel the children now (leaving the block then waits for them)."""
        for task in list(self._tasks):
            task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.cancel_all()
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            if exc is not None and len(group.exceptions) == 1 and group.exceptions[0] is exc:
                raise exc.with_traceback(tb) from None
            raise


async def _guarded(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await coro
    except Exception:
        log.exception("a fanned-out task failed")
