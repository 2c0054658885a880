"""A client that goes away mid-stream: the run goes on and is stored whole (default), or is
cancelled (`on_disconnect: cancel`). Driven at the ASGI level, so the disconnect is exact.

Servers speaking ASGI 2.3 (uvicorn) report the disconnect by `receive()`; with 2.4 the server
notices when the next frame is sent, here the keep-alive ping (every 0.1 s in these tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from agenthost.engine.runner import Runner
from agenthost.server import create_app

from .conftest import ALICE, KEYS, Gate, wait_until


async def _disconnect_after_first_frame(
    app: Any, path: str, body: dict[str, Any], *, spec_version: str
) -> list[bytes]:
    """POST `body`, read the first SSE frame, then disconnect; returns the chunks received."""
    raw = orjson.dumps(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"authorization", f"Bearer {ALICE}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    gone = asyncio.Event()
    sent_body = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            if gone.is_set():
                if spec_version >= "2.4":
                    raise OSError("the client has gone away")  # what an ASGI 2.4 server does
                return  # what uvicorn (2.3) does
            chunks.append(message["body"])
            gone.set()

    async with asyncio.timeout(60):
        try:
            await app(scope, receive, send)
        except Exception as exc:  # Starlette's ClientDisconnect on the 2.4 path
            assert type(exc).__name__ == "ClientDisconnect", exc
    return chunks


async def _stored(runner: Runner, session_id: str) -> list[str]:
    session = await runner.get_session("alice", session_id)
    return [e.type for e in session.events]


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
async def test_the_run_goes_on_and_is_stored_whole(
    runners: dict[str, Runner], gate: Gate, spec_version: str
) -> None:
    app = create_app(runners, api_keys=KEYS, ping_interval=0.1)
    state = app.state.agenthost
    async with app.router.lifespan_context(app):
        chunks = await _disconnect_after_first_frame(
            app, "/v1/apps/helper/runs", {"message": "slow"}, spec_version=spec_version
        )
        assert chunks[0].startswith(b"id: 1\nevent: message.received")
        channel = state.runs.active()[0]  # still running, nobody reading
        session_id = channel.request.session_id
        assert await _stored(runners["helper"], session_id) == ["message.received"]
        gate.set()
        assert channel.task is not None
        await asyncio.wait_for(channel.task, 60)
        assert await _stored(runners["helper"], session_id) == [
            "message.received",
            "message.completed",
            "run.completed",
        ]
        session = await runners["helper"].get_session("alice", session_id)
        assert session.events[1].text == "Echo: slow (#1 user messages seen)"


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
@pytest.mark.parametrize("where", ["request", "server"])
async def test_on_disconnect_cancel_cancels_the_run(
    runners: dict[str, Runner], gate: Gate, spec_version: str, where: str
) -> None:
    options: dict[str, Any] = {"on_disconnect": "cancel"} if where == "server" else {}
    body: dict[str, Any] = {"message": "slow"}
    if where == "request":
        body["on_disconnect"] = "cancel"
    app = create_app(runners, api_keys=KEYS, ping_interval=0.1, **options)
    state = app.state.agenthost
    async with app.router.lifespan_context(app):
        await _disconnect_after_first_frame(
            app, "/v1/apps/helper/runs", body, spec_version=spec_version
        )
        await wait_until(lambda: not state.runs.active())
        (session,) = await runners["helper"].list_sessions("alice")
        stored = await runners["helper"].get_session("alice", session.id)
        assert [e.type for e in stored.events] == ["message.received", "run.failed"]
        failed = stored.events[-1]
        assert failed.error is not None and failed.error.code == "cancelled"
        assert "client disconnected" in failed.error.message


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"model": "helper", "stream": True, "messages": [{"role": "user", "content": "slow"}]},
        ),
        ("/v1/responses", {"model": "helper", "stream": True, "input": "slow"}),
    ],
)
async def test_openai_streams_follow_the_same_policy(
    runners: dict[str, Runner], gate: Gate, path: str, body: dict[str, Any]
) -> None:
    app = create_app(runners, api_keys=KEYS, ping_interval=0.1)
    state = app.state.agenthost
    async with app.router.lifespan_context(app):
        await _disconnect_after_first_frame(app, path, body, spec_version="2.3")
        channel = state.runs.active()[0]
        gate.set()
        assert channel.task is not None
        await asyncio.wait_for(channel.task, 60)
        assert channel.terminal is not None and channel.terminal.type == "run.completed"
        stored = await _stored(runners["helper"], channel.request.session_id)
        assert stored[-1] == "run.completed"
