"""One sandboxed process, watched: output read as it comes (bounded), a wall-clock deadline,
and the whole process tree killed at the end whatever happens (also on cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

from agenthost.backends.tools.sandbox._types import Stream

CHUNK = 64 * 1024


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
async def reaped(process: asyncio.subprocess.Process) -> AsyncIterator[None]:
    """On the way out (an error, a timeout, a cancellation), kill and reap `process`."""
    try:
        yield
    finally:
        kill_tree(process)
        await asyncio.shield(process.wait())


async def pipe_reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    """An asyncio reader on the read end `fd` of a pipe (the transport owns and closes it)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _protocol = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport
