"""`SSEResponse` streams in the request's task, with one listener task for the disconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from starlette.responses import StreamingResponse

from agenthost.core import serde
from agenthost.core.events import Event
from agenthost.server.runs import format_position
from agenthost.server.sse import SSE_HEADERS, LastChunk, SSEResponse, position_frame, sse_headers

SCOPE = {"type": "http", "asgi": {"spec_version": "2.3"}, "method": "POST", "headers": []}


class Client:
    """An ASGI 2.3 server's side: `receive` says http.disconnect once the client has gone or
    the response is complete (what uvicorn does); `send` records what was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.gone.set()  # the response is complete

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_a_whole_stream_leaves_no_task_and_no_cancellation() -> None:
    closed = asyncio.Event()

    async def frames() -> AsyncGenerator[bytes, None]:
        try:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"
        finally:
            closed.set()

    client = Client()
    before = asyncio.all_tasks()
    response = SSEResponse(frames(), headers={"X-Run-Id": "r1"})
    await response(SCOPE, client.receive, client.send)
    await asyncio.sleep(0)  # let the cancelled listener finish
    assert client.bodies() == [b"data: 1\n\n", b"data: 2\n\n", b""]
    start = client.sent[0]
    assert (b"x-run-id", b"r1") in start["headers"]
    assert (b"cache-control", b"no-cache") in start["headers"]
    assert closed.is_set()
    assert asyncio.all_tasks() == before
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_client_that_leaves_stops_the_stream_and_closes_the_frames() -> None:
    cleaned = asyncio.Event()

    async def frames() -> AsyncGenerator[bytes, None]:
        try:
            yield b"data: 1\n\n"
            await asyncio.Event().wait()  # a run that goes on
        finally:
            cleaned.set()  # the frames' own cleanup

    client = Client()

    async def send(message: dict[str, Any]) -> None:
        await client.send(message)
        if message.get("body"):
            client.gone.set()  # the client reads the first frame and leaves

    async def serve() -> int:
        await SSEResponse(frames())(SCOPE, client.receive, send)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    cancelling = await asyncio.wait_for(asyncio.create_task(serve()), 60)
    assert cancelling == 0  # the listener's cancellation was taken back
    assert cleaned.is_set()
    assert client.bodies() == [b"data: 1\n\n"]  # no end of body for a client that left


async def test_a_last_chunk_goes_out_with_the_end_of_the_body() -> None:
    async def frames() -> AsyncGenerator[bytes, None]:
        yield b"data: 1\n\n"
        yield LastChunk(b"data: end\n\n")

    client = Client()
    await SSEResponse(frames())(SCOPE, client.receive, client.send)
    bodies = [(m["body"], m["more_body"]) for m in client.sent[1:]]
    assert bodies == [(b"data: 1\n\n", True), (b"data: end\n\n", False)]


async def test_what_follows_a_last_chunk_is_sent_after_it() -> None:
    async def frames() -> AsyncGenerator[bytes, None]:
        yield LastChunk(b"data: 1\n\n")
        yield b": ping\n\n"
        yield LastChunk(b"data: 2\n\n")
        yield b"data: 3\n\n"

    client = Client()
    await SSEResponse(frames())(SCOPE, client.receive, client.send)
    assert client.bodies() == [b"data: 1\n\n", b": ping\n\n", b"data: 2\n\n", b"data: 3\n\n", b""]


async def test_on_left_is_called_after_the_frames_close_only_for_a_client_that_left() -> None:
    calls: list[str] = []

    async def frames(wait: bool) -> AsyncGenerator[bytes, None]:
        try:
            yield b"data: 1\n\n"
            if wait:
                await asyncio.Event().wait()  # a run that goes on
        finally:
            calls.append("closed")

    client = Client()

    async def send(message: dict[str, Any]) -> None:
        await client.send(message)
        if message.get("body"):
            client.gone.set()  # the client reads the first frame and leaves

    response = SSEResponse(frames(True), on_left=lambda: calls.append("left"))
    await asyncio.wait_for(asyncio.create_task(response(SCOPE, client.receive, send)), 60)
    assert calls == ["closed", "left"]

    calls.clear()
    whole = Client()
    response = SSEResponse(frames(False), on_left=lambda: calls.append("left"))
    await response(SCOPE, whole.receive, whole.send)
    assert calls == ["closed"]  # the frames ended: nobody left


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"X-Run-Id": "r1", "X-Session-Id": "s1"},
        {"X-Custom": "é", "X-Run-Id": "r2"},
        {"Cache-Control": "no-store", "X-Run-Id": "r3"},
        {"cache-control": "private"},
        {"Content-Type": "text/event-stream; charset=latin-1"},
    ],
)
def test_the_head_is_the_one_starlette_makes(headers: dict[str, str] | None) -> None:
    starlette = StreamingResponse(
        iter([]),
        headers={**SSE_HEADERS, **(headers or {})},
        media_type="text/event-stream",
    )
    assert SSEResponse(_no_frames(), headers=headers).raw_headers == starlette.raw_headers
    assert sse_headers(headers) == starlette.raw_headers


async def _no_frames() -> AsyncGenerator[bytes, None]:
    chunks: tuple[bytes, ...] = ()
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize("pos", [(0, 0), (17, 0), (17, 3), (4, 999_999_999)])
def test_a_position_frame_has_the_positions_id_the_type_and_the_event(pos: tuple[int, int]) -> None:
    event = Event(id="e1", run_id="r1", author="user", type="message.received", seq=pos[0])
    frame = position_frame(*pos, event)
    assert frame == b"id: %s\nevent: message.received\ndata: %s\n\n" % (
        format_position(pos).encode(),
        serde.encode(event),
    )
