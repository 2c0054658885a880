"""The browser's only way out: a SOCKS5 proxy on 127.0.0.1 that applies the web tools' policy.

Every browser context gets its own `PolicyProxy` (`proxy={"server": "socks5://127.0.0.1:N"}`)
and Playwright adds `<-loopback>` to the bypass list, so Chromium sends every TCP connection
through it: navigations, subresources, redirects (each hop is a new connection), fetch/XHR,
EventSource and WebSockets, for 127.0.0.1 and localhost too. With SOCKS5 Chromium sends the
host *name* and never resolves it itself: the proxy resolves it, checks every address with the
web tools' `WebPolicy` (`checked_addresses`) and connects to those checked addresses only, so
DNS rebinding gets nowhere. A refused connection is answered "not allowed by ruleset" (0x02)
and recorded in `blocked`, where the tools read it to tell the model what was refused and why.

What does not go through here, and how it is closed off instead (browser flags, see pool.py):
UDP (QUIC is disabled; WebRTC may use only proxied connections), Chromium's own background
traffic (disabled, and its launch-level proxy is another PolicyProxy), DNS prefetch (host
resolver rules make local name resolution fail). Non-network URLs (file:, chrome:) are refused
by the tools before navigating; pages on http(s) cannot load file: URLs in Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
from dataclasses import dataclass, field

from agenthost.backends.tools.web.ssrf import (
    BlockedAddress,
    Resolve,
    WebPolicy,
    checked_addresses,
    system_resolve,
)

log = logging.getLogger("agenthost.browser")

_VERSION = 5
_NO_AUTH = 0
_NO_METHOD = 0xFF
_CONNECT = 1
_IPV4, _DOMAIN, _IPV6 = 1, 3, 4
_OK, _FAILURE, _NOT_ALLOWED, _UNREACHABLE, _REFUSED = 0, 1, 2, 4, 5
_BAD_COMMAND, _BAD_ADDRESS = 7, 8
_CHUNK = 65536


class _Malformed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Blocked:
    """One refused connection: where to, and why."""

    host: str
    port: int
    reason: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port} ({self.reason})"


@dataclass(slots=True)
class PolicyProxy:
    """A SOCKS5 (RFC 1928, CONNECT only, no authentication) server on 127.0.0.1 that lets a
    connection through only to addresses the policy allows. An async context manager; closing
    it closes every tunnel it holds."""

    policy: WebPolicy
    resolve: Resolve = system_resolve
    connect_timeout: float = 10.0
    max_connections: int = 64
    max_blocked: int = 50  # refusals kept (the oldest are dropped)
    blocked: list[Blocked] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not started"
        port = self._server.sockets[0].getsockname()[1]
        return f"socks5://127.0.0.1:{port}"

    async def __aenter__(self) -> PolicyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def take_blocked(self) -> list[Blocked]:
        """The refusals since the last call."""
        taken, self.blocked = self.blocked, []
        return taken

    # ---- one client connection ------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            if len(self._tasks) > self.max_connections:
                return
            await self._tunnel(reader, writer)
        except (_Malformed, asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # only `aclose` cancels this task (the top of its own task): end it quietly, as
            # asyncio's server callback reports a cancelled connection task as an error
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(self.connect_timeout):
            host, port = await _handshake(reader, writer)
            try:
                addresses = await checked_addresses(host, port, self.policy, self.resolve)
            except BlockedAddress as exc:
                self._refuse(host, port, str(exc))
                writer.write(_reply(_NOT_ALLOWED))
                return
            upstream = await _connect(addresses, port)
        if upstream is None:
            writer.write(_reply(_REFUSED))
            return
        up_reader, up_writer = upstream
        self._writers.add(up_writer)
        try:
            writer.write(_reply(_OK))
            await _relay(reader, writer, up_reader, up_writer)
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    def _refuse(self, host: str, port: int, reason: str) -> None:
        log.info("browser connection to %s:%s refused: %s", host, port, reason)
        self.blocked.append(Blocked(host, port, reason))
        del self.blocked[: -self.max_blocked]


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
    version, count = await reader.readexactly(2)
    methods = await reader.readexactly(count)
    if version != _VERSION or _NO_AUTH not in methods:
        writer.write(bytes((_VERSION, _NO_METHOD)))
        raise _Malformed("not SOCKS5 without authentication")
    writer.write(bytes((_VERSION, _NO_AUTH)))
    version, command, _reserved, kind = await reader.readexactly(4)
    if version != _VERSION or command != _CONNECT:
        writer.write(_reply(_BAD_COMMAND))
        raise _Malformed(f"command {command} is not CONNECT")
    if kind == _IPV4:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif kind == _IPV6:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif kind == _DOMAIN:
        size = (await reader.readexactly(1))[0]
        try:  # Chromium sends names in their ASCII (punycode) form
            host = (await reader.readexactly(size)).decode("ascii")
        except UnicodeDecodeError:
            writer.write(_reply(_BAD_ADDRESS))
            raise _Malformed("a host name that is not ASCII") from None
    else:
        writer.write(_reply(_BAD_ADDRESS))
        raise _Malformed(f"address type {kind}")
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    return host, port


async def _connect(
    addresses: list[str], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection to the first checked address that answers (never a name: no new lookup)."""
    for address in addresses:
        with contextlib.suppress(OSError):
            return await asyncio.open_connection(address, port)
    return None


def _reply(code: int) -> bytes:
    return bytes((_VERSION, code, 0, _IPV4, 0, 0, 0, 0, 0, 0))


async def _relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy both ways until either side closes, then close both (the browser's protocols do
    not half-close, and a server that hangs must not keep a tunnel open)."""
    pipes = [
        asyncio.ensure_future(_pipe(reader, up_writer)),
        asyncio.ensure_future(_pipe(up_reader, writer)),
    ]
    try:
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
