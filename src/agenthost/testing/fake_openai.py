"""A fake OpenAI-compatible HTTP server, shared by tests and benchmarks.

A real HTTP/1.1 server on raw asyncio (a `Protocol` per connection, keep-alive, every response
with a Content-Length, SSE included), so that it is never the bottleneck of a benchmark with
hundreds of concurrent keep-alive connections. It serves `POST /v1/chat/completions` (plain and
streamed, `stream_options.include_usage` honoured) and `GET /v1/models`.

What it answers is scripted: replies queued with `add()` are used first, in order; when the
script is empty the `responder` callable decides (by default `echo_tool_responder`). Three ways
to run it::

    async with FakeOpenAIServer([TextReply("hi")]) as srv:     # in the running loop
        ... srv.base_url ...
    handle = FakeOpenAIServer.start_in_thread(latency=0.01)      # own loop in a thread
    handle = FakeOpenAIServer.start_in_process(latency=0.1)      # separate process
    python -m agenthost.testing.fake_openai --port 8000 --latency 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import orjson

from agenthost.testing._fake_replies import (
    ErrorReply,
    GarbageReply,
    HangReply,
    Rendered,
    Reply,
    Responder,
    TextReply,
    ToolCall,
    ToolCallsReply,
    echo_tool_responder,
    render,
    status_line,
    tool_call,
)

__all__ = [
    "ErrorReply",
    "FakeOpenAIServer",
    "GarbageReply",
    "HangReply",
    "ProcessFakeServer",
    "RecordedRequest",
    "Reply",
    "TextReply",
    "ThreadedFakeServer",
    "ToolCall",
    "ToolCallsReply",
    "echo_tool_responder",
    "tool_call",
]

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class _Connection(asyncio.Protocol):
    """One client connection: parse requests one at a time, answer in order."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.pending: asyncio.TimerHandle | asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        if self.pending is not None:
            self.pending.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        while not self.busy and self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self._send(Rendered(431, b'{"error": "header too large"}'), False)
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            method, _, rest = lines[0].partition(b" ")
            path, _, version = rest.partition(b" ")
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower().decode()] = value.strip().decode()
            if "chunked" in headers.get("transfer-encoding", ""):
                self._send(Rendered(411, b'{"error": "send a Content-Length"}'), False)
                return
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            conn = headers.get("connection", "").lower()
            keep = conn != "close" if version == b"HTTP/1.1" else conn == "keep-alive"
            self._handle(method.decode(), path.decode(), headers, body, keep)

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes, keep: bool
    ) -> None:
        path = path.split("?", 1)[0]
        if method == "GET" and path.endswith("/models"):
            self.server._record(method, path, headers, None)
            self._send(Rendered(200, self.server._models_body()), keep)
        elif method == "POST" and path.endswith("/chat/completions"):
            self._chat(path, headers, body, keep)
        else:
            self._send(Rendered(404, b'{"error": {"message": "not found"}}'), keep)

    def _chat(self, path: str, headers: dict[str, str], body: bytes, keep: bool) -> None:
        server = self.server
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            self._send(Rendered(400, b'{"error": {"message": "invalid JSON body"}}'), keep)
            return
        server._record("POST", path, headers, request)
        reply = server._next_reply(request)
        if isinstance(reply, HangReply):
            self.busy = True
            return
        rendered = render(reply, request, len(body), bool(request.get("stream")))
        loop = asyncio.get_running_loop()
        if server.stream_delay > 0 and rendered.pieces:
            self.busy = True
            self.pending = loop.create_task(self._send_slowly(rendered, keep, server.latency))
        elif server.latency > 0:
            self.busy = True
            self.pending = loop.call_later(server.latency, self._send, rendered, keep)
        else:
            self._send(rendered, keep)

    async def _send_slowly(self, rendered: Rendered, keep: bool, latency: float) -> None:
        assert rendered.pieces is not None and self.transport is not None
        await asyncio.sleep(latency)
        self.transport.write(_head(rendered, keep))
        for piece in rendered.pieces:
            if self.transport.is_closing():
                return
            self.transport.write(piece)
            await asyncio.sleep(self.server.stream_delay)
        self._done(keep)

    def _send(self, rendered: Rendered, keep: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if rendered.cut_at is not None:
            self.transport.write(_head(rendered, keep) + rendered.body[: rendered.cut_at])
            self.transport.close()
            return
        self.transport.write(_head(rendered, keep) + rendered.body)
        self._done(keep)

    def _done(self, keep: bool) -> None:
        assert self.transport is not None
        self.pending = None
        if not keep:
            self.transport.close()
            return
        self.busy = False
        if self.buffer:
            self._process()


def _head(rendered: Rendered, keep: bool) -> bytes:
    lines = [
        status_line(rendered.status),
        b"content-type: " + rendered.content_type + b"\r\n",
        b"content-length: %d\r\n" % len(rendered.body),
    ]
    lines.extend(f"{k}: {v}\r\n".encode() for k, v in rendered.headers)
    if rendered.content_type == b"text/event-stream":
        lines.append(b"cache-control: no-cache\r\n")
    lines.append(b"connection: keep-alive\r\n\r\n" if keep else b"connection: close\r\n\r\n")
    return b"".join(lines)


class FakeOpenAIServer:
    """A scripted OpenAI-compatible server on 127.0.0.1 (a free port unless `port` is given).

    `record=False` counts requests (`request_count`) without keeping them.
    """

    def __init__(
        self,
        replies: Iterable[Reply | str] = (),
        *,
        responder: Responder = echo_tool_responder,
        latency: float = 0.0,
        stream_delay: float = 0.0,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = ("fake-model",),
    ) -> None:
        self.script: deque[Reply] = deque()
        self.add(*replies)
        self.responder = responder
        self.latency = latency
        self.stream_delay = stream_delay
        self.record = record
        self.host = host
        self.port = port
        self.models = tuple(models)
        self.requests: list[RecordedRequest] = []
        self.request_count = 0
        self._seen = threading.Condition()  # notified on each request, for other threads
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    def add(self, *replies: Reply | str) -> None:
        """Queue replies (a plain string is a text reply)."""
        self.script.extend(TextReply(r) if isinstance(r, str) else r for r in replies)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completions requests received so far."""
        return [r.body for r in self.requests if r.body is not None]

    def _next_reply(self, request: dict[str, Any]) -> Reply:
        return self.script.popleft() if self.script else self.responder(request)

    def _record(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        with self._seen:
            self.request_count += 1
            self._seen.notify_all()
        if self.record:
            self.requests.append(RecordedRequest(method, path, headers, body))

    def _models_body(self) -> bytes:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return orjson.dumps({"object": "list", "data": data})

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, backlog=4096
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @classmethod
    def start_in_thread(cls, *args: Any, **kwargs: Any) -> ThreadedFakeServer:
        """Run a server on its own event loop in a daemon thread."""
        return ThreadedFakeServer(cls(*args, **kwargs))

    @staticmethod
    def start_in_process(
        *, latency: float = 0.0, port: int = 0, extra_args: Sequence[str] = ()
    ) -> ProcessFakeServer:
        """Run `python -m agenthost.testing.fake_openai` (count-only) as a child process."""
        return ProcessFakeServer(latency=latency, port=port, extra_args=extra_args)


class ThreadedFakeServer:
    """Handle on a server running in its own thread. `server` is the live FakeOpenAIServer."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._error: BaseException | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise RuntimeError(f"fake server did not start: {self._error}") from self._error

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # reported by __init__ in the calling thread
            self._error = exc
            self.loop.close()
            return
        finally:
            ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def wait_for_requests(self, count: int = 1, timeout: float = 120.0) -> None:
        """Block until the server has received `count` requests in all (from another thread
        than the server's). `timeout` only keeps a broken test from hanging: AssertionError."""
        seen = self.server._seen
        with seen:
            if not seen.wait_for(lambda: self.server.request_count >= count, timeout):
                raise AssertionError(
                    f"the fake server got {self.server.request_count} of {count} requests"
                )

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ThreadedFakeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ProcessFakeServer:
    """Handle on a fake server in a child process (count-only, so memory stays flat)."""

    def __init__(self, *, latency: float, port: int, extra_args: Sequence[str]) -> None:
        cmd = [sys.executable, "-m", "agenthost.testing.fake_openai"]
        cmd += ["--port", str(port), "--latency", str(latency), *extra_args]
        env = dict(os.environ)  # make the child find this very package, installed or not
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.base_url = line.removeprefix("listening on ")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ProcessFakeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _serve(args: argparse.Namespace) -> None:
    server = FakeOpenAIServer(
        latency=args.latency,
        stream_delay=args.stream_delay,
        record=False,
        host=args.host,
        port=args.port,
    )
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server (echo/tool).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--stream-delay", type=float, default=0.0, help="seconds per SSE chunk")
    args = parser.parse_args(argv)
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_serve(args))


if __name__ == "__main__":
    main()
