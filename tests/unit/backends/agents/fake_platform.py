"""An in-process fake agent platform: a real aiohttp.web server on 127.0.0.1.

It replays scripted replies in the platforms' own wire formats (SSE frames written as they
come, with pauses, a dropped connection or silence) and records every request, and whether
the client went away while a stream was open. The agents under test talk to it through their
real HTTP client.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


BREAK = _Marker("BREAK")  # drop the connection in the middle of the stream
HANG = _Marker("HANG")  # send nothing more until the server closes

Frame = bytes | float | _Marker  # bytes to write, seconds to pause, or a marker


@dataclass
class Reply:
    """One scripted answer: a stream of frames, or a JSON/text body with a status."""

    frames: Sequence[Frame] = ()
    status: int = 200
    content_type: str = "text/event-stream"
    body: Any = None  # a non-stream answer: dict/list -> JSON, str -> text
    before: float | _Marker | None = None  # pause (or HANG) before the response head
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    disconnected: bool = False  # the client went away while the stream was open
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # set when that is seen

    def went_away(self) -> None:
        self.disconnected = True
        self.gone.set()


@dataclass
class FakePlatform:
    requests: list[Recorded] = field(default_factory=list)
    _scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    base_url: str = ""

    def add(self, path: str, *replies: Reply) -> None:
        """Queue replies for `path` (`/rpc#Method` for one JSON-RPC method); the last one left
        is repeated."""
        self._scripts[path].extend(replies)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def __aenter__(self) -> FakePlatform:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode(errors="replace")
        path = request.path
        if isinstance(body, dict) and body.get("jsonrpc") == "2.0" and "method" in body:
            path += "#" + str(body["method"])  # JSON-RPC: scripted and recorded per method
        record = Recorded(request.method, path, dict(request.query), dict(request.headers), body)
        self.requests.append(record)
        queue = self._scripts.get(path)
        if not queue:
            return web.json_response({"code": "not_found", "message": "no script"}, status=404)
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if reply.before is HANG:
            await self._closing.wait()
        elif isinstance(reply.before, float):
            await asyncio.sleep(reply.before)
        if reply.body is not None:
            if isinstance(reply.body, str):
                return web.Response(
                    status=reply.status,
                    text=reply.body,
                    content_type=reply.content_type,
                    headers=reply.headers,
                )
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return await self._stream(request, reply, record)

    async def _stream(
        self, request: web.Request, reply: Reply, record: Recorded
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": reply.content_type, **reply.headers}
        )
        await response.prepare(request)
        for frame in reply.frames:
            if isinstance(frame, bytes):
                try:
                    await response.write(frame)
                except ConnectionError:
                    record.went_away()
                    return response
            elif frame is BREAK:
                assert request.transport is not None
                request.transport.abort()
                return response
            else:
                seconds = None if frame is HANG else frame
                if await self._wait(request, seconds):
                    record.went_away()
                    return response
        await response.write_eof()
        return response

    async def _wait(self, request: web.Request, seconds: float | _Marker | None) -> bool:
        """Pause; True as soon as the client has gone away."""
        loop = asyncio.get_running_loop()
        end = None if not isinstance(seconds, float | int) else loop.time() + seconds
        while end is None or loop.time() < end:
            transport = request.transport
            if transport is None or transport.is_closing():
                return True
            if self._closing.is_set():
                return False
            await asyncio.sleep(0.01)
        return False


def data_frame(payload: Any) -> bytes:
    """Dify framing: only a `data:` line."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event_frame(event: str, payload: Any) -> bytes:
    """Coze framing: `event:` and `data:` lines (no space after the colon)."""
    return f"event:{event}\ndata:".encode() + orjson.dumps(payload) + b"\n\n"


def dashscope_frame(seq: int, payload: Any, *, event: str = "result", status: int = 200) -> bytes:
    """DashScope framing: id, event, an HTTP_STATUS comment, data."""
    head = f"id:{seq}\nevent:{event}\n:HTTP_STATUS/{status}\ndata:".encode()
    return head + orjson.dumps(payload) + b"\n\n"
