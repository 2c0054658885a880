"""Bad input gets a clear 4xx naming the field, and nothing is stored half."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from agenthost.engine.runner import Runner
from agenthost.server import create_app

from .conftest import ALICE, KEYS, Users


async def _nothing_stored(users: Users) -> None:
    for name in ("helper", "other"):
        sessions = (await users.alice.get(f"/v1/apps/{name}/sessions")).json()["sessions"]
        assert sessions == [], f"{name}: {sessions}"


def _error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field is not None:
        assert error["field"] == field, error
    return error


@pytest.mark.parametrize("path", ["/v1/apps/helper/runs", "/v1/chat/completions", "/v1/responses"])
async def test_malformed_json_is_a_400(users: Users, path: str) -> None:
    r = await users.alice.post(
        path, content=b'{"message": "hi",', headers={"Content-Type": "application/json"}
    )
    error = _error(r, 400, "invalid_json", "body")
    assert "not valid JSON" in error["message"]
    await _nothing_stored(users)


async def test_a_body_that_is_not_json_is_a_415(users: Users) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", content=b"message=hi")
    _error(r, 415, "unsupported_media_type", "body")
    r = await users.alice.post(
        "/v1/apps/helper/runs", content=b"hi", headers={"Content-Type": "text/plain"}
    )
    _error(r, 415, "unsupported_media_type", "body")
    await _nothing_stored(users)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": 5}, "message"),
        ({"message": ""}, "message"),
        ({"message": "hi", "stream": "yes"}, "stream"),
        ({"message": "hi", "timeout": -1}, "timeout"),
        ({"message": "hi", "timeout": "10"}, "timeout"),
        ({"message": "hi", "busy_policy": "later"}, "busy_policy"),
        ({"message": "hi", "on_disconnect": "explode"}, "on_disconnect"),
        ({"message": "hi", "state_delta": []}, "state_delta"),
        ({"message": "hi", "mesage": "typo"}, "mesage"),
        ({"message": [{"kind": "video", "url": "x"}]}, "message.0.kind"),
        ({"message": []}, "message"),
        ({"message": [{"kind": "text", "text": "x", "extra": 1}]}, "message.0.extra"),
        ([1, 2], "body"),
        ({}, "message"),
        ({"message": None}, "message"),
        ({"message": [{"kind": "text"}]}, "message.0.text"),
        ({"message": [{"kind": "image"}]}, "message.0.url"),
    ],
)
async def test_wrong_types_name_the_field(users: Users, body: Any, field: str) -> None:
    r = await users.alice.post("/v1/apps/helper/runs", json=body)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["field"] == field, r.json()
    assert r.json()["error"]["code"] == "invalid_argument"
    await _nothing_stored(users)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/apps/nope/sessions", None),
        ("POST", "/v1/apps/nope/runs", {"message": "hi"}),
        ("POST", "/v1/apps/helpr/sessions", {}),
    ],
)
async def test_an_unknown_agent_is_a_404(users: Users, method: str, path: str, body: Any) -> None:
    r = await users.alice.request(method, path, json=body)
    error = _error(r, 404, "agent_not_found", "agent")
    assert "helper" in error["message"]
    await _nothing_stored(users)


async def test_an_unknown_model_is_a_404_naming_model(users: Users) -> None:
    r = await users.alice.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
    )
    _error(r, 404, "agent_not_found", "model")
    r = await users.alice.post("/v1/responses", json={"model": "helpr", "input": "x"})
    error = _error(r, 404, "agent_not_found", "model")
    assert "Did you mean 'helper'" in error["message"]
    r = await users.alice.get("/v1/models/nope")
    _error(r, 404, "agent_not_found", "model")
    await _nothing_stored(users)


async def test_unknown_sessions_and_runs_are_404s(users: Users) -> None:
    r = await users.alice.post("/v1/apps/helper/sessions/nope/runs", json={"message": "hi"})
    _error(r, 404, "session_not_found", "session_id")
    r = await users.alice.get("/v1/apps/helper/sessions/nope/events")
    _error(r, 404, "session_not_found", "session_id")
    r = await users.alice.get("/v1/apps/helper/sessions/nope/runs/run_x")
    _error(r, 404, "session_not_found", "session_id")
    r = await users.alice.post("/v1/apps/helper/sessions/nope/runs/run_x/cancel")
    _error(r, 404, "session_not_found", "session_id")
    await _nothing_stored(users)
    made = await users.alice.post("/v1/apps/helper/sessions", json={"session_id": "s"})
    assert made.status_code == 201
    for method, path in [
        ("GET", "/v1/apps/helper/sessions/s/runs/run_x"),
        ("GET", "/v1/apps/helper/sessions/s/runs/run_x/events"),
        ("POST", "/v1/apps/helper/sessions/s/runs/run_x/cancel"),
    ]:
        _error(await users.alice.request(method, path), 404, "run_not_found", "run_id")
    r = await users.alice.get("/v1/apps/helper/sessions/bad%20id")
    _error(r, 422, "invalid_argument", "session_id")


async def test_an_unknown_route_or_method_is_json(users: Users) -> None:
    _error(await users.alice.get("/v2/nothing"), 404, "not_found")
    _error(await users.alice.put("/v1/apps/helper/runs"), 405, "method_not_allowed")


async def test_bad_openai_input(users: Users) -> None:
    def chat(**body: Any) -> Any:
        return users.alice.post("/v1/chat/completions", json={"model": "helper", **body})

    _error(await chat(messages=[]), 422, "invalid_argument", "messages")
    r = await chat(
        messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    )
    error = _error(r, 400, "invalid_argument", "messages.1.role")
    assert "last message must be the user's" in error["message"]
    r = await chat(messages=[{"role": "user", "content": [{"type": "input_audio"}]}])
    _error(r, 400, "invalid_argument", "messages.0.content.0.type")
    r = await chat(messages=[{"role": "user", "content": "x"}], n=2)
    _error(r, 400, "invalid_argument", "n")
    r = await chat(messages=[{"role": "user", "content": "x"}], user="u" * 257)
    _error(r, 422, "invalid_argument", "user")
    r = await users.alice.post(
        "/v1/chat/completions",
        json={"model": "helper", "messages": [{"role": "user", "content": "x"}]},
        headers={"X-Session-Id": "a/b"},
    )
    _error(r, 400, "invalid_argument", "X-Session-Id")
    r = await users.alice.post("/v1/responses", json={"model": "helper", "input": []})
    _error(r, 400, "invalid_argument", "input")
    r = await users.alice.post(
        "/v1/responses", json={"model": "helper", "input": "x", "previous_response_id": "resp_x"}
    )
    _error(r, 404, "response_not_found", "previous_response_id")
    await _nothing_stored(users)


@pytest.fixture
async def small(runners: dict[str, Runner]) -> AsyncIterator[Users]:
    app = create_app(runners, api_keys=KEYS, max_body_bytes=1000)
    async with app.router.lifespan_context(app):
        yield Users(app)


async def test_an_oversized_body_is_a_413(small: Users) -> None:
    r = await small.alice.post("/v1/apps/helper/runs", json={"message": "x" * 2000})
    error = _error(r, 413, "payload_too_large")
    assert "1000 bytes" in error["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"message": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    r = await small.alice.post(
        "/v1/apps/helper/runs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _error(r, 413, "payload_too_large")
    ok = await small.bob.post("/v1/apps/helper/runs", json={"message": "x" * 100, "stream": False})
    assert ok.status_code == 200
    sessions = (await small.alice.get("/v1/apps/helper/sessions")).json()["sessions"]
    assert sessions == []


async def test_a_chunked_body_with_a_small_content_length_is_still_counted(
    runners: dict[str, Runner],
) -> None:
    """A body within its Content-Length is not counted (the server reads no more), unless it
    also says Transfer-Encoding (then the length means nothing): driven at the ASGI level."""
    app = create_app(runners, api_keys=KEYS, max_body_bytes=1000)
    parts = [b'{"message": "', *([b"x" * 100] * 20), b'"}']
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not parts:
            return {"type": "http.disconnect"}
        body = parts.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/apps/helper/runs",
        "raw_path": b"/v1/apps/helper/runs",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"20"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", f"Bearer {ALICE}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
        assert not app.state.agenthost.runs.active()
    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
