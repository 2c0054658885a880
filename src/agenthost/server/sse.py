"""Server-sent events: the response class and the frame encoders (msgspec / orjson).

The response is FastAPI's own `fastapi.sse.EventSourceResponse` (FastAPI >= 0.135) used as a
plain response class around our byte iterator, else a Starlette StreamingResponse with the
same media type. Frames are encoded here, not by FastAPI's per-item pydantic path: an event is
one msgspec `encode` (about 2 µs). JSON never contains a raw newline, so `data:` is one line.

`SSEResponse` makes sure the body iterator is closed when the response ends for any reason
(client gone, server shutting down), so the iterator's cleanup (the `on_disconnect` policy)
always runs, whichever ASGI spec version the server speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from functools import partial
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from agenthost.core import serde
from agenthost.core.events import Event

try:
    from fastapi.sse import EventSourceResponse as _Base
except ImportError:  # pragma: no cover - FastAPI < 0.135

    class _Base(StreamingResponse):  # type: ignore[no-redef]
        media_type = "text/event-stream"


log = logging.getLogger("agenthost.server")

PING = b": ping\n\n"
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_HEAD: list[tuple[bytes, bytes]] = [
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_CONTENT_TYPE = (b"content-type", b"text/event-stream; charset=utf-8")
# the scope key of an object whose `on_lost` the server calls once if the client leaves before
# the response ended, and whose `loop` is the connection's (`_http_limits._HeadCork`, under
# `agenthost serve`'s protocol)
DISCONNECT_HOOK = "agenthost.disconnect_hook"
_NAMES = {"X-Run-Id": b"x-run-id", "X-Session-Id": b"x-session-id"}  # header -> its raw name


def sse_headers(headers: Mapping[str, str] | None = None) -> list[tuple[bytes, bytes]]:
    """The head of an event stream with these headers, as Starlette's `init_headers` makes it
    for `{**SSE_HEADERS, **headers}` (names lowered, latin-1, the content type last)."""
    if not headers:
        return [*_HEAD, _CONTENT_TYPE]
    if SSE_HEADERS.keys().isdisjoint(headers):  # the usual case: only headers of our own
        raw = [*_HEAD]
        for key, value in headers.items():
            name = _NAMES.get(key)
            if name is None:
                name = key.lower().encode("latin-1")
                if len(_NAMES) < 64:
                    _NAMES[key] = name
            raw.append((name, value.encode("latin-1")))
    else:
        merged = {**SSE_HEADERS, **headers}
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()]
    if not any(name == b"content-type" for name, _ in raw):
        raw.append(_CONTENT_TYPE)
    return raw


class LastChunk(bytes):
    """A chunk after which the stream should end (the one with a run's terminal event):
    `SSEResponse` holds it until the stream's next step, and when that is the end (the common
    case: at once) sends it with the end of the body, in one write instead of two. Anything
    that comes after it instead is sent after it, as always."""

    __slots__ = ()


class SSEResponse(_Base):
    """`text/event-stream` over an async generator of frames, which is always closed.

    Streamed by the request's own task, which is cancelled once the client has left: under
    `agenthost serve`'s protocol, from the connection's `on_lost` hook (`_http_limits`); under
    any other server, by one small task that waits on `receive()` for `http.disconnect`
    (Starlette's StreamingResponse runs an AnyIO task group of two more tasks, with its cancel
    scopes, per response for the same thing)."""

    def __init__(
        self,
        frames: AsyncGenerator[bytes, None],
        *,
        headers: Mapping[str, str] | None = None,
        on_left: Callable[[], None] | None = None,
    ) -> None:
        # what StreamingResponse.__init__ sets, the head from bytes made once (its
        # `init_headers` lowers and encodes every header of every response)
        self.body_iterator = frames
        self.status_code = 200
        self.background = None
        self.raw_headers = sse_headers(headers)
        self._frames = frames
        self._on_left = on_left
        self._ended = False  # the frames ended by themselves (not closed early)
        self._gone = False  # the client left before the end: the stream was cancelled for it
        self._sent = False  # the whole body is out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = scope.get(DISCONNECT_HOOK)
        # the hook's connection's loop, else the running one (a `getpid` call in CPython 3.11)
        loop = hook.loop if hook is not None else asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        listener = None
        if hook is not None:
            hook.on_lost = partial(self._left, task)
        else:
            listener = loop.create_task(self._listen(receive, task))
        try:
            await self._stream(send)
        except asyncio.CancelledError:
            if self._gone:  # the client left: the frames' cleanup applies on_disconnect
                task.uncancel()
                if not task.cancelling():
                    return
            # the server cut the stream (its graceful-shutdown timeout ran out before the run's
            # end): end the body and return, so that it logs no traceback
            log.warning("an event stream was cut short by the server's shutdown")
            task.uncancel()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError as exc:  # ASGI 2.4 servers: a send to a client that left
            raise ClientDisconnect() from exc
        finally:
            if listener is not None:
                listener.cancel()
            if hook is not None:
                hook.on_lost = None
            await self._frames.aclose()
            if not self._ended and self._on_left is not None:
                self._on_left()
        if self.background is not None:
            await self.background()

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        held = b""  # a LastChunk, sent with the end of the body if nothing follows it
        async for chunk in self._frames:
            if held:
                await send({"type": "http.response.body", "body": held, "more_body": True})
                held = b""
            if type(chunk) is LastChunk:
                held = chunk
                continue
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        self._ended = True
        await send({"type": "http.response.body", "body": held, "more_body": False})
        self._sent = True

    async def _listen(self, receive: Receive, stream: asyncio.Task[Any]) -> None:
        """Cancel the stream once the client has gone (an `http.disconnect`)."""
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:  # a server whose receive fails once the response is over
            return
        self._left(stream)

    def _left(self, stream: asyncio.Task[Any]) -> None:
        """The client has gone: cancel the stream, unless the whole body is out."""
        if not self._sent:
            self._gone = True
            stream.cancel()


_encode = serde.encode


def position_frame(seq: int, k: int, event: Event) -> bytes:
    """A native frame: `id:` (the position `(seq, k)`: `seq` or `seq.k`), `event:` (the event
    type) and the event as JSON, formatted as bytes in one step."""
    if k == 0:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event.type.encode(), _encode(event))
    return b"id: %d.%d\nevent: %s\ndata: %s\n\n" % (seq, k, event.type.encode(), _encode(event))


def error_frame(frame_id: str, event: Event) -> bytes:
    """The `error` frame sent right before a `run.failed` one, with its own id (the position
    just before the `run.failed`'s: `runs.error_position`)."""
    body: dict[str, Any] = {
        "type": "error",
        "run_id": event.run_id,
        "session_id": event.session_id,
        "error": serde.to_builtins(event.error) if event.error is not None else None,
    }
    return b"id: %s\nevent: error\ndata: %s\n\n" % (frame_id.encode(), orjson.dumps(body))


def data_frame(payload: Any) -> bytes:
    """`data: {json}` alone (OpenAI chat completion chunks)."""
    return b"data: %s\n\n" % orjson.dumps(payload)


def named_frame(name: str, payload: Any) -> bytes:
    """`event: name` + `data: {json}` (OpenAI Responses stream events)."""
    return b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(payload))
