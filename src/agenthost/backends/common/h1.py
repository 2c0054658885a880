"""One HTTP/1.1 client connection: an `asyncio.Protocol` parsing answers with httptools.

`H1Connection.send(request_bytes)` writes one request and returns an `H1Response` once the
answer's head has arrived; the body then streams into it as the socket delivers it (chunked,
sized by Content-Length, or up to the connection's end), and the consumer reads it with
`read_nowait` / `readany` / `read`. One request at a time per connection; a connection whose
answer was read to its end and which the server keeps alive goes back to its pool
(`on_reusable`) when the response is released, any other is closed.

What it costs per request: one write, one parser pass per socket read (C), a list of header
lines (a dict made only if asked for) and a list of body chunks; no task, no stream reader, no
multidict. Reading pauses when more
than `HIGH_WATER` bytes wait unread and resumes once they are taken.

Failures are `transport.NotAnswered` (closed or reset before any byte of the answer: the pool
may send the request again) or `transport.ResponseBroken` (after the answer started, or bytes
that are not HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable
from typing import cast

import httptools

from agenthost.backends.common.transport import NotAnswered, ResponseBroken, TransportError

HIGH_WATER = 256 * 1024  # unread body bytes at which reading from the socket pauses


class H1Response:
    """The answer to one request: status and headers, then the body as it arrives."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_error",
        "_headers",
        "_raw",
        "_size",
        "_waiter",
        "complete",
        "keep_alive",
        "status",
    )

    def __init__(self, conn: H1Connection) -> None:
        self._conn: H1Connection | None = conn
        self.status = 0
        self._raw: list[tuple[bytes, bytes]] = []  # the head's header lines, as they came
        self._headers: dict[str, str] | None = None
        self.keep_alive = False
        self.complete = False  # the whole body arrived
        self._chunks: list[bytes] = []
        self._size = 0
        self._error: TransportError | None = None
        self._waiter: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<H1Response {self.status} complete={self.complete}>"

    @property
    def headers(self) -> dict[str, str]:
        """The head's headers: names lowered, values latin-1, a repeated one's values joined
        with ", ". Made when first asked for (a model call reads none of them unless it
        failed: a provider's 15-20 headers decoded for nothing cost about 0.5 µs each)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for name, value in self._raw:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return headers

    # ---- fed by the connection ---------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        self._wake()
        if self._size > HIGH_WATER and self._conn is not None:
            self._conn.pause_reading()

    def _finish(self, error: TransportError | None = None) -> None:
        if error is None:
            self.complete = True
        elif not self.complete:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ---- read by the consumer ----------------------------------------------------------------

    def read_nowait(self) -> bytes:
        """The bytes that arrived and were not read yet (b"" when none)."""
        chunks = self._chunks
        if not chunks:
            if self._error is not None:
                raise self._error
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        if self._size > HIGH_WATER and self._conn is not None:
            self._conn.resume_reading()
        self._size = 0
        return data

    async def readany(self) -> bytes:
        """The next bytes of the body, waiting for them; b"" once it has all been read."""
        while not self._chunks and not self.complete:
            if self._error is not None:
                raise self._error
            if self._conn is None:
                raise ResponseBroken("the response was closed before its end")
            loop = self._conn._loop or asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            await waiter
        return self.read_nowait()

    async def read(self) -> bytes:
        """The rest of the body."""
        if self.complete:  # all of it is here (a small answer comes with its head): no wait
            return self.read_nowait()
        parts: list[bytes] = []
        while chunk := await self.readany():
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await self.readany():
            yield chunk

    def release(self) -> None:
        """Done with it: the connection goes back to its pool if the body was read to its
        end and the server keeps it alive; else it is closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.complete and self.keep_alive and not self._chunks:
            conn.reusable()
        else:
            conn.close()

    def close(self) -> None:
        """Done with it, and the connection is closed whatever its state."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class H1Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection (made by `loop.create_connection`)."""

    def __init__(
        self,
        on_reusable: Callable[[H1Connection], None] | None = None,
        key: Hashable = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._on_reusable = on_reusable
        self.key = key  # the pool's name for where it goes
        # the loop it runs on (its futures' loop), when the maker knows it: asking for the
        # running loop is a `getpid` system call in CPython 3.11, two a request
        self._loop = loop
        self.on_closed: Callable[[], None] | None = None  # called once, when it closes
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._response: H1Response | None = None
        self._head: asyncio.Future[H1Response] | None = None
        self._answered = False  # a byte of the current answer arrived
        self._until_eof = False  # the current body ends with the connection
        self._paused = False
        self.idle_since = 0.0
        self.closed = False
        self.requests = 0  # sent on this connection

    # ---- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's, or uvloop's (which does not subclass asyncio.Transport)
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._answered = True
        if self._response is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ResponseBroken("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ResponseBroken(f"invalid HTTP response: {exc}"))

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._closing()
        response = self._response
        if response is None:
            return
        if self._head is not None:  # still waiting for the head
            detail = f": {exc}" if exc else ""
            if self._answered:
                self._fail(ResponseBroken(f"the connection closed in the response head{detail}"))
            else:
                self._fail(NotAnswered(f"the server closed the connection{detail}"))
        elif self._until_eof and exc is None:
            self._response = None
            response._finish()
        else:
            self._fail(ResponseBroken("the connection closed before the response ended"))

    # ---- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._response is not None
        self._response._raw.append((name, value))

    def on_headers_complete(self) -> None:
        response, head = self._response, self._head
        assert response is not None and head is not None
        parser = self._parser
        response.status = status = parser.get_status_code()
        response.keep_alive = parser.should_keep_alive()
        sized = chunked = False  # as `headers` would say: a Content-Length; "chunked" in the
        for name, value in response._raw:  # Transfer-Encoding values
            name = name.lower()
            if name == b"content-length":
                sized = True
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
        self._until_eof = not sized and not chunked and status >= 200 and status not in (204, 304)
        if self._until_eof:
            response.keep_alive = False
        self._head = None
        if not head.done():
            head.set_result(response)

    def on_body(self, body: bytes) -> None:
        assert self._response is not None
        self._response._feed(body)

    def on_message_complete(self) -> None:
        response = self._response
        if response is not None:
            self._response = None
            response._finish()

    # ---- used by the pool and the response -----------------------------------------------------

    async def send(self, request: bytes) -> H1Response:
        """Write `request` (head and body); return the response once its head arrived.

        Cancelled while waiting (a deadline), the connection is closed: a late answer must not
        be read as the next request's.
        """
        transport = self._transport
        if transport is None or self.closed or transport.is_closing():
            raise NotAnswered("the connection was already closed")
        self._response = H1Response(self)
        loop = self._loop or asyncio.get_running_loop()
        head: asyncio.Future[H1Response] = loop.create_future()
        self._head = head
        self._answered = False
        self.requests += 1
        transport.write(request)
        try:
            return await head
        except BaseException:
            self.close()
            raise

    def reusable(self) -> None:
        if self.closed:
            return
        if self._paused:
            self.resume_reading()
        if self._on_reusable is not None:
            self._on_reusable(self)
        else:
            self.close()

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    def close(self) -> None:
        self._closing()
        transport = self._transport
        if transport is not None:
            self._transport = None
            transport.close()
        if self._response is not None:
            self._fail(ResponseBroken("the connection was closed"))

    def pause_reading(self) -> None:
        if self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and self._paused:
            self._paused = False
            self._transport.resume_reading()

    def _closing(self) -> None:
        if not self.closed:
            self.closed = True
            if self.on_closed is not None:
                self.on_closed()

    def _fail(self, error: TransportError) -> None:
        response, head = self._response, self._head
        self._response = self._head = None
        if head is not None and not head.done():
            head.set_exception(error)
        if response is not None:
            response._finish(error)
        if not self.closed:
            self.close()
