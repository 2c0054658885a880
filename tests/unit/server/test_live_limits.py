"""Request-head limits on a real uvicorn over raw sockets: `agenthost serve`'s protocol stops
reading an oversized head and answers 431; under any server the middleware answers 431."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from agenthost.server import create_app
from agenthost.server._http_limits import _HeadCork, limited_protocol
from agenthost.testing.fake_openai import FakeOpenAIServer

from .live import KEY, live_config, live_server

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


class _Transport:
    """Records the writes that reach the socket."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


async def test_a_response_head_goes_out_with_the_first_body_part_in_one_write() -> None:
    loop = asyncio.get_running_loop()
    transport = _Transport()
    cork = _HeadCork(transport, loop)  # type: ignore[arg-type]
    cork.write(b"HTTP/1.1 200 OK\r\n\r\n")
    cork.write(b"body")
    cork.write(b"more")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    assert cork.get_extra_info("peername") == "info peername"  # the rest is the transport's


async def test_a_head_alone_goes_out_at_the_next_turn_or_before_a_close() -> None:
    loop = asyncio.get_running_loop()
    transport = _Transport()
    cork = _HeadCork(transport, loop)  # type: ignore[arg-type]
    cork.write(b"head")
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"head"]
    cork.write(b"body")  # later writes go straight out
    assert transport.writes == [b"head", b"body"]

    closing = _Transport()
    cork = _HeadCork(closing, loop)  # type: ignore[arg-type]
    cork.write(b"head")
    cork.close()
    assert closing.writes == [b"head"] and closing.closed
    await asyncio.sleep(0)
    assert closing.writes == [b"head"]  # not twice


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    protocol = limited_protocol(max_headers=100, max_header_bytes=LIMIT)
    with FakeOpenAIServer.start_in_thread(latency=0.0) as fake:
        config = live_config(fake.base_url, tmp_path_factory.mktemp("cork"))
        app = create_app(config, api_keys=[f"{KEY}:sdk"])
        with live_server(app, http=protocol) as url:
            yield url


def _run(address: tuple[str, int], agent: str) -> bytes:
    body = orjson.dumps({"message": "hi"})
    request = (
        b"POST /v1/apps/%s/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (agent.encode(), KEY.encode(), len(body), body)
    )
    return _send(address, request)[0]


def test_a_served_stream_keeps_its_bytes_through_the_held_head(agents: str) -> None:
    """A run's SSE stream and an error answer over the real protocol: the head, then the
    chunked frames (the last one with the body's end), as without the held head."""
    answer = _run(_address(agents), "plain")
    head, _, chunked = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head
    assert chunked.endswith(b"\r\n0\r\n\r\n")
    assert b"event: message.received" in chunked and b"event: run.completed" in chunked
    missing = _run(_address(agents), "nobody")
    status, body = _status_and_body(missing)
    assert status == 404 and body["error"]["code"]  # type: ignore[index]
