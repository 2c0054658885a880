"""The HTTP transport seam of the model clients: one response protocol, two implementations.

A model client sends a POST and reads the answer through `Transport` / `Response`, whichever
HTTP stack is under it:

    lean      `h1_pool.H1Client`: HTTP/1.1 on an `asyncio.Protocol` with httptools' C parser,
              a keep-alive pool of its own (plain http and https, no proxy)
    aiohttp   `aiohttp_transport.AiohttpTransport`: an `aiohttp.ClientSession`, with
              trust_env=True when a proxy applies (HTTP(S)_PROXY, NO_PROXY are honoured)

`choose_transport("auto", url)` picks lean for an http(s) URL no proxy variable applies to
(`proxy_applies`), aiohttp otherwise (and when httptools is not installed). Both raise the
same two errors, which the model client maps to its own:

    NotAnswered     no byte of an answer came: cannot connect, or the connection was closed
                    or reset before the response started (-> ModelUnavailable)
    ResponseBroken  the response started, then the connection broke or the bytes were not
                    HTTP (-> ModelResponseError)

A `Response` is read with `read()` (the whole body), or chunk by chunk: `read_nowait()` gives
what already arrived (b"" if nothing), `readany()` waits for the next bytes (b"" at the end),
`async for chunk in response` and `lines(response)` iterate. `release()` when done: a response
read to its end gives its connection back to the pool, any other closes it.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Literal, Protocol
from urllib.parse import urlsplit

TransportKind = Literal["auto", "aiohttp", "lean"]
TRANSPORT_KINDS: tuple[TransportKind, ...] = ("auto", "aiohttp", "lean")


class TransportError(ConnectionError):
    """An HTTP exchange failed below the HTTP status (see the two subclasses)."""


class NotAnswered(TransportError):
    """No byte of an answer came: the request may be sent again when that is safe."""


class ResponseBroken(TransportError):
    """The answer started, then broke off or was not valid HTTP."""


class Response(Protocol):
    """One HTTP answer: its head is read; its body is read on demand."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Looked up by lower-case name."""
        ...

    def read_nowait(self) -> bytes: ...

    async def readany(self) -> bytes: ...

    async def read(self) -> bytes: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """A pooled HTTP client: POST, and close when its owner is done."""

    @property
    def closed(self) -> bool: ...

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> Response: ...

    async def aclose(self) -> None: ...


async def lines(response: Response) -> AsyncIterator[bytes]:
    """The body's lines, without their line ends (LF or CRLF); a last unterminated line too."""
    rest = b""
    async for chunk in response:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part[:-1] if part.endswith(b"\r") else part
    if rest:
        yield rest


def proxy_applies(url: str) -> bool:
    """True when HTTP_PROXY / HTTPS_PROXY (or ALL_PROXY) would route `url` through a proxy,
    NO_PROXY not excluding its host: the rules aiohttp's trust_env follows."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return not bypass(netloc, proxies)


def choose_transport(kind: TransportKind, url: str) -> Literal["aiohttp", "lean"]:
    """The transport `kind` means for `url` ("auto": lean unless a proxy applies)."""
    if kind != "auto":
        return kind
    if urlsplit(url).scheme not in ("http", "https") or proxy_applies(url):
        return "aiohttp"
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - httptools is a dependency
        return "aiohttp"
    return "lean"


def make_transport(
    kind: TransportKind,
    url: str,
    *,
    max_connections: int,
    connect_timeout: float | None,
    ssl_context: ssl.SSLContext | None = None,
) -> Transport:
    """A new transport for requests to `url`'s host; create it inside the running loop."""
    if choose_transport(kind, url) == "lean":
        from agenthost.backends.common.h1_pool import H1Client

        return H1Client(
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            ssl_context=ssl_context,
        )
    from agenthost.backends.common.aiohttp_transport import AiohttpTransport

    return AiohttpTransport.create(
        max_connections=max_connections,
        connect_timeout=connect_timeout,
        ssl_context=ssl_context,
        trust_env=proxy_applies(url),
    )
