"""The load test's client: streaming runs over raw keep-alive HTTP/1.1, cheap per run.

An aiohttp `ClientSession` spends a few hundred µs of CPU per streamed request (request and
response objects, header multidicts, a stream reader); on a 2-core machine the client shares
the cores with the replicas under test, so every ms it spends is a ms a replica does not get.
This client writes one prebuilt request per run on a connection it keeps per replica (an
`asyncio.Protocol`, on uvloop when installed), appends what arrives to one buffer, notes the
time the first SSE frame arrives, and is done when the chunked body's last chunk arrives.
Frames are parsed once, after the run (`checked`): the event ids, the terminal event.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

BODY = b'{"message":"hello, load"}'
TERMINATOR = b"\r\n0\r\n\r\n"  # the last chunk of a chunked body
IDLE_MAX = 2.0  # seconds: an idle connection older than this is replaced, not reused
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")
_SESSION = re.compile(rb"\r\nx-session-id: ([^\r]+)\r\n", re.IGNORECASE)
_FRAME = re.compile(rb"(?:^|\n)id: ([0-9.]+)\nevent: ([a-z_.]+)\ndata: \{\"id\":\"([^\"]+)\"")


def request_bytes(agent: str) -> bytes:
    head = (
        f"POST /v1/apps/{agent}/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


class RunFailed(Exception):
    """A run that did not stream to its end: HTTP status or a broken connection."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one run at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.first = 0.0
        self.headers_end = -1
        self.waiter: asyncio.Future[None] | None = None
        self.lost = False
        self.idle_since = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.headers_end < 0:
            self.headers_end = buffer.find(b"\r\n\r\n")
            if self.headers_end >= 0 and not buffer.startswith(b"HTTP/1.1 200"):
                self._finish(RunFailed(_status(buffer)))
                return
        if not self.first and b"\nevent: " in data:
            self.first = time.perf_counter()
        if buffer.endswith(TERMINATOR):
            self._finish(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._finish(RunFailed(f"connection closed: {exc or 'by the server'}"))

    def _finish(self, error: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    async def send(self, request: bytes) -> bytes:
        """Send a run, wait for its whole stream; returns the response (headers and body)."""
        assert self.transport is not None
        self.buffer = bytearray()
        self.first = 0.0
        self.headers_end = -1
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            await self.waiter
        finally:
            self.idle_since = time.monotonic()
        return bytes(self.buffer)


def _status(buffer: bytearray) -> str:
    found = _STATUS.match(buffer)
    return f"HTTP {found.group(1).decode()}" if found else "not an HTTP response"


@dataclass(slots=True)
class Streamed:
    """One run as the client saw it: (seq, event id) of each stored event, in stream order."""

    session_id: str
    stored: list[tuple[int, str]]
    first_event_ms: float
    ended_ms: float
    completed: bool
    duplicated: int
    gaps: int  # seq numbers missing between the first and the last stored event
    replica: int = 0  # which replica streamed it


def checked(response: bytes, sent: float, first: float, ended: float) -> Streamed:
    """Parse a finished run's response: its ids, whether it completed, duplicates, gaps."""
    session = _SESSION.search(response)
    stored: list[tuple[int, str]] = []
    seen: set[bytes] = set()
    duplicated = 0
    last_type = b""
    for frame_id, kind, event_id in _FRAME.findall(response):
        if frame_id in seen:
            duplicated += 1
        seen.add(frame_id)
        last_type = kind
        if b"." not in frame_id:  # a stored event (a delta's id is `seq.n`)
            stored.append((int(frame_id), event_id.decode()))
    seqs = [seq for seq, _ in stored]
    gaps = (seqs[-1] - seqs[0] + 1 - len(set(seqs))) if seqs else 0
    return Streamed(
        session_id=session.group(1).decode() if session else "",
        stored=stored,
        first_event_ms=(first - sent) * 1000 if first else (ended - sent) * 1000,
        ended_ms=(ended - sent) * 1000,
        completed=last_type == b"run.completed",
        duplicated=duplicated,
        gaps=gaps,
    )


@dataclass
class Client:
    """Connections to each replica, reused run after run (a new one after an error)."""

    bases: list[tuple[str, int]]  # (host, port) of each replica
    request: bytes
    _connections: dict[int, _Connection] = field(default_factory=dict)

    async def run(self, replica: int) -> Streamed:
        conn = self._connections.get(replica)
        if conn is not None and time.monotonic() - conn.idle_since > IDLE_MAX:
            # the server closes idle connections (uvicorn: after 5 s); a request written as it
            # does would fail for the client's sake, not the server's: start afresh instead
            self._drop(replica)
            conn = None
        if conn is None or conn.lost:
            host, port = self.bases[replica]
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(_Connection, host, port)
            self._connections[replica] = conn
        sent = time.perf_counter()
        try:
            response = await conn.send(self.request)
        except RunFailed:
            self._drop(replica)
            raise
        run = checked(response, sent, conn.first, time.perf_counter())
        run.replica = replica
        return run

    def _drop(self, replica: int) -> None:
        conn = self._connections.pop(replica, None)
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    def close(self) -> None:
        for replica in list(self._connections):
            self._drop(replica)
