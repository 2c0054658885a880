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

Work uvicorn's protocol repeats, done once (the bytes and the scope stay the same):

- a keep-alive connection keeps one idle timer (`_idle`, a `RearmingTimer`), re-armed when it
  fires early, instead of a `call_later` made after every response and cancelled by the next
  request;
- a connection's local and remote addresses (the scope's `server` and `client`) are the ones
  the transport already has (uvicorn asks the socket again under uvloop: two `getsockname`
  and one `getpeername` system calls a connection).

A request's scope carries its `_HeadCork` under `DISCONNECT_HOOK`: a response that must know
when the client leaves (`sse.SSEResponse`) sets its `on_lost`, called when the connection is
lost before the response ended (when uvicorn would answer `http.disconnect`), instead of
running a task that waits on `receive()` for it (a task, its two steps, an event's future
and a cancellation a request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl

from agenthost.core.timers import RearmingTimer
from agenthost.server.errors import error_body
from agenthost.server.sse import DISCONNECT_HOOK


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
    `write`; else it goes out at the loop's next turn, or before a `close`. `on_lost`: called
    once if the connection is lost before the response ended (set by the response)."""

    __slots__ = ("_armed", "_held", "_transport", "loop", "on_lost")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self.loop = loop
        self._armed = True
        self._held: bytes | None = None
        self.on_lost: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._armed:
            self._armed = False
            self._held = data
            self.loop.call_soon(self.flush)
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
        # closes the connection `timeout_keep_alive` seconds after its last response ended;
        # its deadline is None while a request is going on
        self._idle = RearmingTimer(self.loop, self.timeout_keep_alive_handler)

    # ---- the scope's addresses from what the transport knows

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvicorn's connection_made; the addresses of a TCP connection are the ones its
        # transport took at the accept (uvloop's and asyncio's keep them), uvicorn's own
        # look-up (the transport's socket object, `getsockname`, `getpeername`) otherwise
        self.connections.add(self)
        self.transport = transport
        self.flow = FlowControl(transport)
        self.server = _ip_address(transport.get_extra_info("sockname")) or get_local_addr(transport)
        self.client = _ip_address(transport.get_extra_info("peername")) or get_remote_addr(
            transport
        )
        self.scheme = "https" if is_ssl(transport) else "http"
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%sHTTP connection made", prefix)

    # ---- one keep-alive timer a connection

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when a request's bytes arrive, a response ends or the connection
        # is lost: busy from now on (the timer, if armed, lapses when it fires)
        self._idle.deadline = None

    def on_response_complete(self) -> None:
        # uvicorn's, arming the connection's one idle timer instead of a new one
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle.deadline = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle.arm(self.loop.time() + self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        self._idle.close()
        # the request uvicorn marks disconnected (its `receive` would say `http.disconnect`)
        if cycle is not None and cycle.disconnected:
            cork: object = cycle.transport  # a `_HeadCork` (`on_headers_complete`)
            if isinstance(cork, _HeadCork) and cork.on_lost is not None:
                on_lost, cork.on_lost = cork.on_lost, None
                on_lost()

    def data_received(self, data: bytes) -> None:
        self._idle.deadline = None  # busy (here too, whatever uvicorn's own hook is called)
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
            cork = _HeadCork(cycle.transport, self.loop)
            cycle.transport = cork  # type: ignore[assignment]
            cycle.scope[DISCONNECT_HOOK] = cork  # type: ignore[literal-required]

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


def _ip_address(info: object) -> tuple[str, int] | None:
    """An IPv4 or IPv6 socket address as uvicorn puts it in the scope: (host, port)."""
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


def limited_protocol(*, max_headers: int, max_header_bytes: int) -> type[HttpToolsProtocol]:
    """A `LimitedHttpToolsProtocol` class with these limits (for `uvicorn.Config(http=...)`)."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"max_headers": max_headers, "max_header_bytes": max_header_bytes},
    )
