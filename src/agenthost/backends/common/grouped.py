"""Concurrent calls that share one write (one statement, one round trip, one commit).

`Grouped(write)`: the first `submit` writes its item at once; the items submitted while a
write is in flight wait and go together in the next one (`write(items)` returns one result an
item, in order). Each caller gets its own result once its write is done, or raises what that
write raised, as it would alone; a caller cancelled while waiting leaves its item to be
written. A lone call costs what it did without the group; under load (runs ending
together) several calls cost one statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Grouped(Generic[T, R]):
    """See the module doc."""

    def __init__(self, write: Callable[[list[T]], Awaitable[Sequence[R]]]) -> None:
        self._write = write
        self._busy = False
        self._next: list[T] = []
        self._next_done: asyncio.Future[Sequence[R]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        if not self._busy:
            self._busy = True
            try:
                return (await self._write([item]))[0]
            finally:
                self._hand_on()
        index = len(self._next)
        self._next.append(item)
        if self._next_done is None:
            self._next_done = asyncio.get_running_loop().create_future()
            self._next_done.add_done_callback(_retrieve)
        return (await asyncio.shield(self._next_done))[index]

    def _hand_on(self) -> None:
        """The write in flight is done: start the next batch's, if any."""
        if not self._next:
            self._busy = False
            return
        batch, done = self._next, self._next_done
        self._next, self._next_done = [], None
        assert done is not None
        task = asyncio.ensure_future(self._flush(batch, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[T], done: asyncio.Future[Sequence[R]]) -> None:
        try:
            results = await self._write(batch)
        except asyncio.CancelledError:
            done.cancel()
            raise
        except BaseException as exc:
            done.set_exception(exc)
        else:
            done.set_result(results)
        finally:
            self._hand_on()

    async def drain(self) -> None:
        """Wait for the writes in flight (before the pool closes)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # its callers raised it; none left is no warning
