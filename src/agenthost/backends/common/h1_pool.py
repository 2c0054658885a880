"""`H1Client`: a small pool of `H1Connection`s, the lean transport of the model clients.

One client per Provider (see `transport.py`). Connections are kept per (scheme, host, port);
a request takes the most recently used idle one (last in, first out, so that the pool shrinks
back when load drops) or opens a new one, at most `max_connections` open at once (then it
waits for one). An idle connection older than `keepalive_timeout` is closed instead of used.

A kept-alive connection the server closed while it sat idle (llama.cpp, vLLM and Ollama close
idle ones) fails the next request with `NotAnswered` before any byte of an answer. Such a
request is sent once more, on a new connection, only when that is provably safe: it went out
on a reused connection (taken idle at once, or after a wait for a free one) and nothing at all
came back; the second try never takes an idle connection (it may be as stale). A failure on a
new connection, or after the answer started, is not retried here (the model client's retry
policy decides).

TLS: `https` URLs use `ssl_context` (default: `ssl.create_default_context()`, the system's
CAs), with the URL's host as the server name. Connecting has its own limit,
`connect_timeout`; the whole call's deadline is the caller's (`Deadline` around `post`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

from agenthost.backends.common.h1 import H1Connection, H1Response
from agenthost.backends.common.transport import NotAnswered
from agenthost.engine import tracing

USER_AGENT = "agenthost"
DEFAULT_KEEPALIVE_TIMEOUT = 30.0

_Key = tuple[str, str, int]  # scheme, host, port


class _Target:
    """What a URL needs for a request: the pool key and the request line and Host prefix,
    and the last head made (`head`)."""

    __slots__ = ("_head", "_headers", "_source", "host", "key", "port", "prefix", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotAnswered(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.key: _Key = (parts.scheme, self.host, self.port)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None:
            host += f":{parts.port}"
        self.prefix = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        self._source: Mapping[str, str] | None = None  # the headers of the last head made
        self._headers: dict[str, str] = {}  # what they were then
        self._head = b""

    def encode(self, headers: Mapping[str, str]) -> bytes:
        """The request's head up to its Content-Length line: request line, Host, User-Agent,
        then `headers` in their order (latin-1)."""
        head = [self.prefix]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n")
        return "".join(head).encode("latin-1")

    def head(self, headers: Mapping[str, str]) -> bytes:
        """`encode(headers)`, made again only when `headers` is another mapping than last time
        or has changed since (a provider sends the same few headers on every call)."""
        if headers is not self._source or headers != self._headers:
            self._head = self.encode(headers)
            self._source, self._headers = headers, dict(headers)
        return self._head


class H1Client:
    """A keep-alive connection pool speaking HTTP/1.1; `post()` returns an `H1Response`."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        connect_timeout: float | None = 30.0,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.keepalive_timeout = keepalive_timeout
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._idle: dict[_Key, deque[H1Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._open = 0  # connections open or being opened
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._trace = tracing.enabled()
        self.closed = False
        self.connections_made = 0

    def __repr__(self) -> str:
        return f"<H1Client open={self._open} closed={self.closed}>"

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> H1Response:
        """Send a POST; return the answer once its head arrived (any status)."""
        if self.closed:
            raise NotAnswered("the HTTP client is closed")
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _Target(url)
        if self._trace:  # a traceparent of its own: a head of its own
            headers = dict(headers)
            tracing.inject(headers)
            head = target.encode(headers)
        else:
            head = target.head(headers)
        request = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        conn = self._take_idle(target.key)
        if conn is None:
            conn = await self._connect(target)  # an idle one too, after a wait for one
        if conn.requests:  # kept alive from an earlier request: the server may have closed it
            try:
                return await conn.send(request)
            except NotAnswered:
                pass  # a stale keep-alive connection, and nothing came back: send it anew
            conn = await self._connect(target, fresh=True)
        return await conn.send(request)

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when released."""
        self.closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # ---- the pool ------------------------------------------------------------------------------

    def _take_idle(self, key: _Key) -> H1Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_ok = self._loop.time() - self.keepalive_timeout
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= oldest_ok:
                return conn
            conn.close()
        return None

    async def _connect(self, target: _Target, *, fresh: bool = False) -> H1Connection:
        """A new connection, or (unless `fresh`) an idle one that a wait for a free one gave."""
        while self._open >= self.max_connections:
            if self._close_an_idle_one():
                break
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: the wake-up goes to the next
                raise
            if self.closed:
                raise NotAnswered("the HTTP client is closed")
            if not fresh and (conn := self._take_idle(target.key)) is not None:
                return conn
        self._open += 1
        try:
            ssl_context = None
            if target.tls:
                ssl_context = self._ssl or ssl.create_default_context()
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self._loop.create_connection(
                    lambda: H1Connection(self._reusable, target.key, self._loop),
                    target.host,
                    target.port,
                    ssl=ssl_context,
                    server_hostname=target.host if ssl_context is not None else None,
                )
        except BaseException as exc:
            self._gone()
            if isinstance(exc, TimeoutError):
                detail = f"connecting to {target.host}:{target.port} took over "
                raise NotAnswered(f"{detail}{self.connect_timeout}s") from exc
            if isinstance(exc, OSError):  # refused, unreachable, DNS, TLS handshake
                raise NotAnswered(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
            raise
        self.connections_made += 1
        if conn.closed:  # lost while connecting finished
            self._gone()
            raise NotAnswered(f"{target.host}:{target.port} closed the connection at once")
        conn.on_closed = self._gone
        return conn

    def _reusable(self, conn: H1Connection) -> None:
        if self.closed:
            conn.close()
            return
        conn.idle_since = self._loop.time()
        key: _Key = conn.key  # type: ignore[assignment]
        self._idle.setdefault(key, deque()).append(conn)
        self._wake_one()

    def _close_an_idle_one(self) -> bool:
        for idle in self._idle.values():
            if idle:
                idle.popleft().close()
                return True
        return False

    def _gone(self) -> None:
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
