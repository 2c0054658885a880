"""The run routes' fast path (`_fast_runs`) answers exactly what the FastAPI routes answer.

Every request is sent to two apps over the same runners: the normal one, and one built without
the fast-path middleware (so FastAPI's routes serve the runs). Status, the headers that matter
and the body (run and session ids aside) must be the same; a spy shows which requests the fast
path served and which it handed on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from agenthost.core.errors import InvalidArgument
from agenthost.engine.runner import Runner
from agenthost.server import create_app
from agenthost.server._fast_runs import MATCHED_RUN_ROUTE, FastRunsMiddleware
from agenthost.server.errors import Forbidden
from agenthost.server.runs import RunRequest

from .conftest import ALICE, KEYS, event_types, parse_sse

HEADERS = ("content-type", "cache-control", "x-accel-buffering", "www-authenticate")


def _refuse_bob(request: RunRequest) -> None:
    if request.user_id == "bob":
        raise Forbidden("bob may not run agents here", field="user")


def _without_fast_path(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastRunsMiddleware]
    return app


@pytest.fixture
async def pair(runners: dict[str, Runner]) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    fast = create_app(
        runners, api_keys=[*KEYS, "bob-0123456789abcdef:bob"], before_run=[_refuse_bob]
    )
    slow = _without_fast_path(
        create_app(runners, api_keys=[*KEYS, "bob-0123456789abcdef:bob"], before_run=[_refuse_bob])
    )
    assert any(m.cls is FastRunsMiddleware for m in fast.user_middleware)
    async with fast.router.lifespan_context(fast), slow.router.lifespan_context(slow):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")
            for app in (fast, slow)
        ]
        async with clients[0], clients[1]:
            yield clients[0], clients[1]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the fast path served itself (not handed on to FastAPI)."""
    paths: list[str] = []
    original = FastRunsMiddleware._start

    async def spy(self: FastRunsMiddleware, scope: Any, *args: Any) -> Any:
        paths.append(scope["path"])
        return await original(self, scope, *args)

    monkeypatch.setattr(FastRunsMiddleware, "_start", spy)
    return paths


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    for name in HEADERS:
        assert a.headers.get(name) == b.headers.get(name), name
    assert ("x-run-id" in a.headers) == ("x-run-id" in b.headers)
    if a.headers.get("content-type", "").startswith("text/event-stream"):
        assert event_types(parse_sse(a.text)) == event_types(parse_sse(b.text))
    elif a.status_code != 200:
        assert a.content == b.content
    else:  # a run's JSON answer: the same but for its ids and times
        one, two = orjson.loads(a.content), orjson.loads(b.content)
        assert [e["type"] for e in one.pop("events")] == [e["type"] for e in two.pop("events")]
        for body in (one, two):
            del body["run_id"], body["session_id"], body["usage"]
        assert one == two


ALICE_AUTH = {"Authorization": f"Bearer {ALICE}"}

# (path, headers, body bytes, served by the fast path)
CASES: list[tuple[str, dict[str, str], bytes, bool]] = [
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "hi"}', True),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "tool x"}', True),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "fail"}', True),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "hi", "stream": false}', True),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": [{"kind": "text", "text": ""}]}', True),
    ("/v1/apps/helper/runs", {}, b'{"message": "hi"}', True),
    ("/v1/apps/helper/runs", {"Authorization": "Basic abc"}, b'{"message": "hi"}', True),
    ("/v1/apps/helper/runs", {"X-API-Key": "wrong"}, b'{"message": "hi"}', True),
    ("/v1/apps/helper/runs", {**ALICE_AUTH, "X-Agenthost-User": "bob"}, b'{"message": "x"}', True),
    ("/v1/apps/helper/runs", {"X-API-Key": "bob-0123456789abcdef"}, b'{"message": "x"}', True),
    ("/v1/apps/nobody/runs", ALICE_AUTH, b'{"message": "hi"}', True),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "hi", "state_delta": {"app:x": 1}}', True),
    ("/v1/apps/helper/sessions/nope/runs", ALICE_AUTH, b'{"message": "hi"}', True),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": ""}', False),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": 3}', False),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "hi", "typo": 1}', False),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": "hi", "timeout": "5"}', False),
    ("/v1/apps/helper/runs", ALICE_AUTH, b'{"message": ', False),
    ("/v1/apps/helper/runs", ALICE_AUTH, b"[]", False),
    ("/v1/apps/helper/runs", ALICE_AUTH, b"", False),
    ("/v1/apps/helper/runs", {}, b'{"message": ""}', False),
    ("/v1/apps/helper/sessions/bad%20id/runs", ALICE_AUTH, b'{"message": "hi"}', False),
    ("/v1/apps/helper/runs/", ALICE_AUTH, b'{"message": "hi"}', False),
]


@pytest.mark.parametrize(("path", "headers", "body", "fast"), CASES)
async def test_the_fast_path_answers_what_the_routes_answer(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    served: list[str],
    path: str,
    headers: dict[str, str],
    body: bytes,
    fast: bool,
) -> None:
    sent = {"Content-Type": "application/json", **headers}
    a = await pair[0].post(path, content=body, headers=sent)
    fast_served = list(served)
    b = await pair[1].post(path, content=body, headers=sent)
    _same(a, b)
    assert fast_served == ([path.replace("%20", " ")] if fast else [])


async def test_a_run_in_an_existing_session_and_its_stream_again(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], served: list[str]
) -> None:
    for n, client in enumerate(pair):  # the two apps share their runners: a session each
        sid = f"s-{n}"
        created = await client.post(
            "/v1/apps/helper/sessions", json={"session_id": sid}, headers=ALICE_AUTH
        )
        assert created.status_code == 201
        first = await client.post(
            f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "one"}, headers=ALICE_AUTH
        )
        second = await client.post(
            f"/v1/apps/helper/sessions/{sid}/runs", json={"message": "two"}, headers=ALICE_AUTH
        )
        assert first.headers["x-session-id"] == sid
        frames = parse_sse(second.text)
        assert (
            frames[-2]["data"]["message"]["parts"][0]["text"] == "Echo: two (#2 user messages seen)"
        )
        run_id = second.headers["x-run-id"]
        again = await client.get(
            f"/v1/apps/helper/sessions/{sid}/runs/{run_id}/events",
            headers={**ALICE_AUTH, "Last-Event-ID": frames[0]["id"]},
        )
        stored = [f["id"] for f in frames[1:] if "." not in f["id"]]  # the deltas are gone
        assert [f["id"] for f in parse_sse(again.text)] == stored
    assert served == ["/v1/apps/helper/sessions/s-0/runs"] * 2  # the fast app's two runs


@pytest.mark.parametrize(
    ("content_type", "fast"),
    [
        ("application/json; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/x+json", False),  # not JSON to FastAPI: its 422, not a run
    ],
)
async def test_json_content_types(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    served: list[str],
    content_type: str,
    fast: bool,
) -> None:
    sent = {**ALICE_AUTH, "Content-Type": content_type}
    a = await pair[0].post("/v1/apps/helper/runs", content=b'{"message": "hi"}', headers=sent)
    b = await pair[1].post("/v1/apps/helper/runs", content=b'{"message": "hi"}', headers=sent)
    _same(a, b)
    assert bool(served) == fast


async def test_a_server_error_in_a_hook_is_the_apps_500(runners: dict[str, Runner]) -> None:
    def broken(request: RunRequest) -> None:
        raise RuntimeError("hook bug")

    def bad_input(request: RunRequest) -> None:
        raise InvalidArgument("message", "refused by a hook")

    for hook, status in ((broken, 500), (bad_input, 400)):
        app = create_app(runners, api_keys=KEYS, before_run=[hook])
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                answer = await c.post(
                    "/v1/apps/helper/runs", json={"message": "hi"}, headers=ALICE_AUTH
                )
        assert answer.status_code == status
        code = orjson.loads(answer.content)["error"]["code"]
        assert code == ("internal_error" if status == 500 else "invalid_argument")


def test_the_fast_path_calls_the_route_functions_themselves() -> None:
    from agenthost.server import native
    from agenthost.server._fast_runs import RunRoutes

    routes = RunRoutes.of(native.api.routes)
    assert routes.match("/v1/apps/helper/runs") == (native.run_new, {"agent": "helper"})
    assert routes.match("/v1/apps/helper/sessions/s-1/runs") == (
        native.run_in_session,
        {"agent": "helper", "session_id": "s-1"},
    )
    assert routes.match("/v1/apps/helper/sessions/s-1/runs/r-1/cancel") is None
    assert routes.match("/v1/apps/helper/sessions") is None


async def test_without_the_native_routes_there_is_no_fast_path(
    runners: dict[str, Runner], served: list[str]
) -> None:
    app = create_app(runners, api_keys=KEYS, routers=["ops"])
    assert not any(m.cls is FastRunsMiddleware for m in app.user_middleware)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            answer = await c.post(
                "/v1/apps/helper/runs", json={"message": "hi"}, headers=ALICE_AUTH
            )
    assert answer.status_code == 404
    assert served == []


async def test_the_apps_match_is_handed_over_and_leaves_no_trace_in_the_scope(
    runners: dict[str, Runner], served: list[str]
) -> None:
    """The app matches a run route once and hands the match to the fast path in the scope;
    the fast path takes it out, whether it serves the request or hands it on."""
    app = create_app(runners, api_keys=KEYS)
    scopes: list[dict[str, Any]] = []

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await app(scope, receive, send)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(recorded)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ok = await c.post("/v1/apps/helper/runs", json={"message": "hi"}, headers=ALICE_AUTH)
            bad = await c.post(
                "/v1/apps/helper/runs",
                content=b"{not json",
                headers={**ALICE_AUTH, "content-type": "application/json"},
            )
    assert (ok.status_code, bad.status_code) == (200, 400)
    assert len(served) == 1  # the bad body went on to FastAPI's route
    assert all(MATCHED_RUN_ROUTE not in scope for scope in scopes)
