"""Request-head limits on a real uvicorn over raw sockets: `agenthost serve`'s protocol stops
reading an oversized head and answers 431; under any server the middleware answers 431."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from agenthost.server import create_app
from agenthost.server._http_limits import limited_protocol

from .live import live_server

LIMIT = 32768


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _send(address: tuple[str, int], head: bytes, *, chunk: int = 65536) -> tuple[bytes, int]:
    """Send `head` (stopping when the server closes); the answer and the bytes sent."""
    sent = 0
    with socket.create_connection(address, timeout=20) as sock:
        try:
            for start in range(0, len(head), chunk):
                sock.sendall(head[start : start + chunk])
                sent += min(chunk, len(head) - start)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while piece := sock.recv(65536):
                answer += piece
        except ConnectionResetError:
            pass
    return answer, sent


def _status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body) if body else {}


@pytest.fixture(scope="module")
def limited() -> Iterator[str]:
    app = create_app(api_keys=[])
    protocol = limited_protocol(max_headers=100, max_header_bytes=LIMIT)
    with live_server(app, http=protocol) as url:
        yield url


@pytest.fixture(scope="module")
def plain() -> Iterator[str]:
    with live_server(create_app(api_keys=[])) as url:
        yield url


def test_an_8_mb_header_block_is_refused_without_being_read(limited: str) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 8_000_000
    answer, sent = _send(_address(limited), head)
    status, body = _status_and_body(answer)
    assert status == 431
    assert body["error"]["code"] == "headers_too_large"  # type: ignore[index]
    assert sent < 8_000_000  # the server closed the connection long before


def test_too_many_header_lines_are_refused(limited: str) -> None:
    lines = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n"
    status, body = _status_and_body(_send(_address(limited), head)[0])
    assert status == 431 and body["error"]["code"] == "headers_too_large"  # type: ignore[index]


def test_a_normal_request_and_keep_alive_pass(limited: str) -> None:
    one = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Ok: " + b"a" * 20_000 + b"\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer, _ = _send(_address(limited), one + one + last)
    assert answer.count(b"HTTP/1.1 200") == 3


def test_the_middleware_answers_431_under_any_server(plain: str) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    status, body = _status_and_body(_send(_address(plain), head)[0])
    assert status == 431 and body["error"]["code"] == "headers_too_large"  # type: ignore[index]
