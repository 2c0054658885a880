"""Request-head limits inside uvicorn's httptools protocol (what `agenthost serve` runs).

httptools keeps reading a request head however long it is (8 MB header blocks were accepted,
and eight of them took a server from 71 MB to 435 MB). `limited_protocol()` makes a protocol
class that stops reading a head once it passes `max_header_bytes` bytes (request line and
headers; measured per network read, so at most one read more is buffered) or `max_headers`
header lines, answers `431 Request Header Fields Too Large` with our JSON error, and closes the
connection. The request guard middleware (`_guard`) checks the same limits under any server.

    uvicorn.Config(app, http=limited_protocol(max_headers=100, max_header_bytes=32768))

The same protocol sends a response's head with the first part of its body in one write when
both come in the same turn of the event loop (`_HeadCork`): a JSON answer, or a run's stream
whose first events are there when it starts, is one write (one system call, one wake-up of the
client) instead of two. The bytes are the same; a head whose body does not follow at once goes
out at the loop's next turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agenthost.server.errors import error_body


class _HeadTooLarge(Exception):
    pass


def _response_431(max_headers: int, max_header_bytes: int) -> bytes:
    message = (
        f"The request head is too large: this server takes at most {max_headers} headers "
        f"and {max_header_bytes} bytes (server.max_headers, server.max_header_bytes)."
    )
    body = orjson.dumps(error_body("headers_too_large", message, status=431))
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )


class _HeadCork:
    """What a request's cycle writes through: its first write (the response's head) is held
    until its next write in the same loop turn (the body's first part), so both go out in one
    `write`; else it goes out at the loop's next turn, or before a `close`."""

    __slots__ = ("_armed", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._armed = True
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._armed:
            self._armed = False
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # anything else the cycle asks of its transport
        return getattr(self._transport, name)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head limits (use `limited_protocol()`)."""

    max_headers = 100
    max_header_bytes = 32768

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0  # bytes of the current head; None: reading a body
        self._header_count = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_bytes is None:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)
        if self._head_bytes is not None and self._head_bytes > self.max_header_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._refused = True
            raise _HeadTooLarge  # httptools raises it as a parser error: send_400_response
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not before:  # a new request (not an upgrade): its
            # task starts at the loop's next turn and writes through this
            cycle.transport = _HeadCork(cycle.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._head_bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        if not self.transport.is_closing():
            self.transport.write(_response_431(self.max_headers, self.max_header_bytes))
            self.transport.close()


def limited_protocol(*, max_headers: int, max_header_bytes: int) -> type[HttpToolsProtocol]:
    """A `LimitedHttpToolsProtocol` class with these limits (for `uvicorn.Config(http=...)`)."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"max_headers": max_headers, "max_header_bytes": max_header_bytes},
    )
