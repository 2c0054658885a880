"""One sandboxed process, watched: started whole even when the call is cancelled meanwhile,
output read as it comes (bounded), a wall-clock deadline, and the whole process tree killed
at the end whatever happens (also on cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from agenthost.backends.tools.sandbox._types import Stream

CHUNK = 64 * 1024
FINISH_SECONDS = 30.0


class Watch:
    """The output of one call and when its first byte came."""

    def __init__(self, limit: int, started: float) -> None:
        self.stdout = Stream(limit)
        self.stderr = Stream(limit)
        self.started = started
        self.first_output: float | None = None

    async def drain(self, reader: asyncio.StreamReader | None, into: Stream) -> None:
        """Read `reader` to its end in chunks: memory stays at `limit` plus one chunk."""
        if reader is None:
            return
        loop = asyncio.get_running_loop()
        while chunk := await reader.read(CHUNK):
            if self.first_output is None:
                self.first_output = loop.time() - self.started
            into.feed(chunk)


async def start(*argv: str, **options: Any) -> tuple[asyncio.subprocess.Process, bool]:
    """`asyncio.create_subprocess_exec`, never interrupted halfway: the process, and whether
    the call was cancelled while it started (the caller then raises CancelledError inside its
    own cleanup, which kills every process the call started).

    Cancelled while it connects the pipes, asyncio kills the direct child only and waits for
    its pipes to close. bwrap's init, killed that early (before its --die-with-parent holds),
    outlives it and keeps them open while its prelude waits for the caller's "go": the
    cancelled call waited forever (seen in a long-lived process)."""
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(*argv, **options))
    cancelled = False
    while True:
        try:
            return await asyncio.shield(spawn), cancelled
        except asyncio.CancelledError:
            if spawn.cancelled():  # the spawn itself (the loop is closing): nothing started
                raise
            cancelled = True  # let it finish starting; the caller's cleanup kills it
        except Exception:
            if cancelled:  # it did not start: the call ends as cancelled, as it was asked
                raise asyncio.CancelledError from None
            raise


def kill_tree(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group of `process` (started with start_new_session, so it leads
    it). Not `process.kill()`: its poll() reaps the process under asyncio's child watcher,
    which then logs "Unknown child process pid" and reports exit code 255."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def reaped(
    process: asyncio.subprocess.Process, *, before: Callable[[], None] | None = None
) -> AsyncIterator[None]:
    """On the way out (an error, a timeout, a cancellation), kill and reap `process`
    (`before` kills what else must die for its pipes to close)."""
    try:
        yield
    finally:
        kill_tree(process)
        if before is not None:
            before()
        await asyncio.shield(_finish(process))


async def _finish(process: asyncio.subprocess.Process) -> None:
    """Read its pipes to their end, then reap it. asyncio's `wait()` returns only once the
    pipes are closed, and a reader whose buffer is full (the drain was cancelled while the
    program printed) stops reading: without this it would never see the end. Past
    FINISH_SECONDS (a pipe held open by a process that escaped the kill) the pipes are
    closed by hand."""
    try:
        async with asyncio.timeout(FINISH_SECONDS):
            for reader in (process.stdout, process.stderr):
                if reader is not None:
                    while await reader.read(CHUNK):
                        pass
            await process.wait()
    except TimeoutError:
        transport = getattr(process, "_transport", None)
        if transport is not None:
            transport.close()
