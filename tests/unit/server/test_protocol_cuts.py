"""What `agenthost serve`'s uvicorn protocol (`_http_limits`) does once instead of every time
stays what uvicorn does: the keep-alive timeout, the scope's `server` and `client` (IPv4,
IPv6, a wildcard host, a unix socket)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from agenthost.server._http_limits import limited_protocol
from tests.unit.manual_loop import ManualLoop

from .live import _Server


class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


# ----------------------------------------------------------------------------- keep-alive


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - not called
    pass


def _protocol(loop: ManualLoop) -> Any:
    config = uvicorn.Config(_app, timeout_keep_alive=5, log_config=None)
    kind = limited_protocol(max_headers=100, max_header_bytes=32768)
    protocol = kind(config=config, server_state=ServerState(), app_state={}, _loop=loop)  # type: ignore[arg-type]
    protocol.transport = _Transport()
    protocol.flow = FlowControl(protocol.transport)
    return protocol


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    loop = ManualLoop()
    protocol = _protocol(loop)
    protocol.on_response_complete()  # t=0: idle
    loop.now = 3.0
    protocol.data_received(b"GET / HTTP/1.1\r\n")  # a request arrives
    protocol.on_response_complete()  # t=3: its response ended: idle again, the same timer
    assert loop.made == 1
    loop.fire()  # t=5: idle for 2 s only: armed again for the 3 s left
    assert not protocol.transport.closed and loop.made == 2
    loop.fire()  # t=8
    assert loop.now == 8.0 and protocol.transport.closed


def test_a_busy_connection_is_not_closed_and_its_next_response_arms_the_timer() -> None:
    loop = ManualLoop()
    protocol = _protocol(loop)
    protocol.on_response_complete()
    protocol.data_received(b"GET / HTTP/1.1\r\n")  # a request, still going at t=5
    loop.fire()
    assert not protocol.transport.closed and not loop.timers
    loop.now = 9.0
    protocol.on_response_complete()
    assert loop.made == 2
    loop.fire()
    assert loop.now == 14.0 and protocol.transport.closed


def test_a_lost_connection_cancels_its_timer() -> None:
    loop = ManualLoop()
    protocol = _protocol(loop)
    protocol.on_response_complete()
    protocol.connection_lost(None)
    assert loop.timers[0][1].cancelled


# ----------------------------------------------------------------------------- the scope


async def _addresses(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = orjson.dumps({"server": scope["server"], "client": scope["client"]})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def _serving(http: type[HttpToolsProtocol], **options: Any) -> Iterator[_Server]:
    config = uvicorn.Config(
        _addresses, port=0, log_config=None, lifespan="off", http=http, access_log=False, **options
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert server.up.wait(30) and server.started
        yield server
    finally:
        server.should_exit = True
        thread.join(20)


def _ask(family: int, address: Any) -> tuple[dict[str, Any], Any]:
    """One request on a new connection: the scope's addresses, and the client's own."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(address)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
        return orjson.loads(answer.partition(b"\r\n\r\n")[2]), sock.getsockname()


def _limited() -> type[HttpToolsProtocol]:
    return limited_protocol(max_headers=100, max_header_bytes=32768)


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("host", "family", "connects"),
    [
        ("127.0.0.1", socket.AF_INET, ["127.0.0.1"] * 3),
        # a wildcard: each connection's own local address
        ("0.0.0.0", socket.AF_INET, ["127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2"]),
        pytest.param(
            "::1",
            socket.AF_INET6,
            ["::1"] * 3,
            marks=pytest.mark.skipif(not _ipv6(), reason="no IPv6 here"),
        ),
    ],
)
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_scope_s_server_and_client_on_every_connection(
    host: str, family: int, connects: list[str], loop: str
) -> None:
    with _serving(_limited(), host=host, loop=loop) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        for connect in connects:
            scope, mine = _ask(family, (connect, port))
            assert scope["server"] == [connect, port]
            assert scope["client"] == [mine[0], mine[1]]


def test_the_scope_on_a_unix_socket_is_uvicorn_s(tmp_path: Path) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    for name, http in (("limited", _limited()), ("uvicorn", HttpToolsProtocol)):
        path = tmp_path / f"{name}.sock"
        with _serving(http, uds=str(path), loop="uvloop"):
            seen[name] = [_ask(socket.AF_UNIX, str(path))[0] for _ in range(2)]
        assert [s["server"] for s in seen[name]] == [[str(path), None]] * 2
    assert [s["client"] for s in seen["limited"]] == [s["client"] for s in seen["uvicorn"]]
