"""Reading stdin lines without blocking the event loop.

A daemon thread reads one line per request. With a real file descriptor it waits with
`select` in short slices and reads with `os.read` (keeping its own buffer, so nothing hides
in Python's stdin buffer), which lets `close()` stop it promptly: a Ctrl-C at the prompt can
end the program without waiting for a line that never comes. Without a descriptor (a test
runner's fake stdin) it falls back to `readline()`.

Line editing is what the terminal's cooked mode gives (GNU readline is not used: it does not
mix with reading in a thread).
"""

from __future__ import annotations

import asyncio
import io
import os
import queue
import select
import sys
import threading
from typing import IO, Final

INTERRUPTED: Final = "\x00interrupted"
_SLICE = 0.2


def _deliver(future: asyncio.Future[str | None], value: str | None) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[str | None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class LineReader:
    """`await reader.readline()` -> the line without its newline, None at end of input, or
    INTERRUPTED after `interrupt()`."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdin
        self._fd: int | None
        try:
            self._fd = self._stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
            self._fd = None
        self._buffer = b""
        self._eof = False
        self._closed = threading.Event()
        self._requests: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[str | None]] | None
        ] = queue.SimpleQueue()
        self._pending: asyncio.Future[str | None] | None = None
        self._thread = threading.Thread(target=self._work, name="agenthost-stdin", daemon=True)
        self._thread.start()

    async def readline(self) -> str | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        self._pending = future
        self._requests.put((loop, future))
        try:
            return await future
        finally:
            self._pending = None

    def interrupt(self) -> None:
        """Make the pending `readline()` return INTERRUPTED now."""
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(INTERRUPTED)

    def close(self) -> None:
        self._closed.set()
        self._requests.put(None)

    # ---- the thread ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._requests.get()
            if item is None or self._closed.is_set():
                return
            loop, future = item
            try:
                line = self._read_line()
            except BaseException as exc:  # deliver it; the thread ends with the reader
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_fail, future, exc)
                return
            if self._closed.is_set() or loop.is_closed():
                return
            loop.call_soon_threadsafe(_deliver, future, line)

    def _read_line(self) -> str | None:
        if self._fd is None:
            line = self._stream.readline()
            return line.rstrip("\r\n") if line else None
        fd = self._fd
        while True:
            if b"\n" in self._buffer:
                raw, _, self._buffer = self._buffer.partition(b"\n")
                return raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if self._eof:
                if not self._buffer:
                    return None
                raw, self._buffer = self._buffer, b""
                return raw.decode("utf-8", errors="replace")
            if self._closed.is_set():
                return None
            try:
                ready, _, _ = select.select([fd], [], [], _SLICE)
            except (OSError, ValueError):  # not selectable: block
                ready = [fd]
            if ready:
                data = os.read(fd, 65536)
                if data:
                    self._buffer += data
                else:
                    self._eof = True
