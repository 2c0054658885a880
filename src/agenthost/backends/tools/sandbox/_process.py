"""One sandboxed process, watched: output read as it comes (bounded), a wall-clock deadline,
and the whole process tree killed at the end whatever happens (also on cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable

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


def kill_tree(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group of `process` (started with start_new_session)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


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


async def pipe_reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    """An asyncio reader on the read end `fd` of a pipe (the transport owns and closes it)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _protocol = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport
