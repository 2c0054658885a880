"""The request guard (pure ASGI middleware, the outermost layer but CORS): what every request
passes before any route sees it.

- Header limits: more than `max_headers` header lines or more than `max_header_bytes` bytes
  of request target and headers is a 431 `headers_too_large`. (`agenthost serve` also stops
  reading a head past the limit, see `_http_limits`; this check holds under any ASGI server.)
- Local development mode (no API keys), unless `insecure`:
  - a client that is not on this machine is refused (403 `local_only`), and the first
    refusal is logged as a warning;
  - a `Host` that is not a loopback name or address (`localhost`, `*.localhost`,
    127.0.0.0/8, ::1) or one of `allowed_hosts` is refused (403 `host_not_allowed`): a page on
    another site could otherwise reach the server through DNS rebinding;
  - a state-changing request (POST, PUT, PATCH, DELETE) from another site is refused (403
    `cross_site`): its `Sec-Fetch-Site` is `cross-site`, or its `Origin` is neither this
    server's nor one of `cors_origins`.
- Every mode: a state-changing request with a body must say `Content-Type: application/json`
  (or `+json`), else 415 `unsupported_media_type` before any route runs, so that a browser's
  "simple" cross-site request (a `text/plain` or form POST, which needs no CORS preflight)
  starts nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from agenthost.server.auth import is_loopback
from agenthost.server.errors import error_body

log = logging.getLogger("agenthost.server")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the request headers the checks read
_READ = frozenset(
    {
        b"host",
        b"origin",
        b"sec-fetch-site",
        b"content-length",
        b"transfer-encoding",
        b"content-type",
    }
)


def host_name(value: str) -> str:
    """The name of a `Host` header value, without its port (`[::1]:8000` -> `::1`)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


TEST_HOST = "testserver"  # the Host of Starlette's TestClient and of httpx's ASGITransport


def is_local_host(name: str) -> bool:
    """A loopback name or address: `localhost`, `*.localhost` (RFC 6761), 127/8, ::1, and
    `testserver` (test clients; a name without a dot no public DNS answers)."""
    # asked on every request in local development mode: the answers for names of DNS length
    # are remembered (at most 1,024 of them, so at most ~260 kB)
    return _is_local_host(name) if len(name) <= 253 else _local_host(name)


@functools.lru_cache(maxsize=1024)
def _is_local_host(name: str) -> bool:
    return _local_host(name)


def _local_host(name: str) -> bool:
    name = name.rstrip(".")  # `localhost.` is the same name, fully qualified
    return is_loopback(name) or name.endswith(".localhost") or name == TEST_HOST


def is_remote_client(address: str) -> bool:
    """A client address that is an IP address of another machine (a test client's made-up
    name such as Starlette's `testclient` is not a network peer)."""
    return _is_remote_client(address) if len(address) <= 64 else _remote_client(address)


@functools.lru_cache(maxsize=1024)
def _is_remote_client(address: str) -> bool:
    return _remote_client(address)


def _remote_client(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return not (mapped or ip).is_loopback


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        local_mode: bool,
        max_headers: int,
        max_header_bytes: int,
        allowed_hosts: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.local_mode = local_mode
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.cors_origins = frozenset(o.rstrip("/").lower() for o in cors_origins)
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refusal
        field = "body" if status == 415 else None
        body = orjson.dumps(error_body(code, message, status=status, field=field))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        # one pass: the head's size, and the headers the checks read (the last of each name)
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        found: dict[bytes, str] = {}
        for name, value in headers:
            size += len(name) + len(value) + 4
            if name in _READ:
                found[name] = value.decode("latin-1")
        if len(headers) > self.max_headers or size > self.max_header_bytes:
            return self._too_large(len(headers), size)
        if self.local_mode:
            refusal = self._check_local(scope, found)
            if refusal is not None:
                return refusal
        return self._check_body_type(scope, found)

    def _too_large(self, count: int, size: int) -> tuple[int, str, str]:
        return (
            431,
            "headers_too_large",
            f"The request has {count} headers of {size} bytes; this server takes at "
            f"most {self.max_headers} headers and {self.max_header_bytes} bytes "
            f"(server.max_headers, server.max_header_bytes).",
        )

    def _check_local(self, scope: Scope, headers: dict[bytes, str]) -> tuple[int, str, str] | None:
        client = scope.get("client")
        if client and is_remote_client(str(client[0])):
            if not self._warned:
                self._warned = True
                log.warning(
                    "refusing a request from %s: no API keys (local development mode) serves "
                    "this machine only; set AGENTHOST_API_KEYS to serve others (further "
                    "refusals are not logged)",
                    client[0],
                )
            return (
                403,
                "local_only",
                "This server has no API keys (local development mode) and serves only this "
                "machine. Configure API keys (AGENTHOST_API_KEYS) to serve other clients.",
            )
        host = headers.get(b"host")
        if host is not None:
            name = host_name(host)
            if not is_local_host(name) and name not in self.allowed_hosts:
                return (
                    403,
                    "host_not_allowed",
                    f"Host {host[:100]!r} is not a loopback name: with no API keys this server "
                    f"answers only to localhost, 127.0.0.1 or [::1] (or server.allowed_hosts).",
                )
        if scope["method"] in UNSAFE_METHODS and self._cross_site(headers):
            return (
                403,
                "cross_site",
                "A request from another site may not change anything on a server without API "
                "keys (local development mode); add its origin to server.cors_origins if it "
                "is yours.",
            )
        return None

    def _cross_site(self, headers: dict[bytes, str]) -> bool:
        origin = headers.get(b"origin")
        if origin is not None and origin.rstrip("/").lower() in self.cors_origins:
            return False
        if headers.get(b"sec-fetch-site", "").lower() == "cross-site":
            return True
        if origin is None:
            return False
        if origin == "null":
            return True
        # another port of this host is the same site (a local front-end's dev server)
        return host_name(urlsplit(origin).netloc or "") != host_name(headers.get(b"host", ""))

    @staticmethod
    def _check_body_type(scope: Scope, headers: dict[bytes, str]) -> tuple[int, str, str] | None:
        if scope["method"] not in UNSAFE_METHODS:
            return None
        length = headers.get(b"content-length")
        has_body = b"transfer-encoding" in headers or (length is not None and length != "0")
        content_type = headers.get(b"content-type", "")
        if not has_body or _is_json(content_type):
            return None
        return (
            415,
            "unsupported_media_type",
            f"The body must be JSON sent with Content-Type: application/json "
            f"(got {content_type[:100] or 'no Content-Type'}).",
        )
