"""Local-development mode is safe on a laptop; with keys every route but the public ones
needs one; request heads are limited (431); A2A parse errors are JSON-RPC errors."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import orjson
import pytest
from fastapi.routing import APIRoute

from agenthost.engine.runner import Runner
from agenthost.server import create_app

from .conftest import ADMIN, KEYS, Users, client_for

RPC = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "message/send",
    "params": {
        "message": {
            "kind": "message",
            "role": "user",
            "messageId": "m-1",
            "parts": [{"kind": "text", "text": "hi"}],
        }
    },
}
RUN = {"message": "hi", "stream": False}


def _client(app: Any, *, client: tuple[str, int] = ("127.0.0.1", 5000), **kw: Any) -> Any:
    transport = httpx.ASGITransport(app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost:8000", **kw)


async def _sessions(runners: dict[str, Runner], user: str = "local") -> int:
    count = 0
    for runner in runners.values():
        count += len(await runner.list_sessions(user))
    return count


@pytest.fixture
async def open_app(runners: dict[str, Runner]) -> Any:
    app = create_app(runners, api_keys=[], cors_origins=["http://localhost:5173"])
    async with app.router.lifespan_context(app):
        yield app


# ---- local development mode ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost"]
)
async def test_loopback_hosts_are_served(open_app: Any, host: str) -> None:
    async with _client(open_app) as http:
        r = await http.get("/v1/apps", headers={"Host": host})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "192.168.1.5:8000"])
async def test_other_hosts_are_refused_without_keys(
    open_app: Any, runners: dict[str, Runner], host: str
) -> None:
    """DNS rebinding: a page of evil.example whose name now points to 127.0.0.1."""
    async with _client(open_app) as http:
        r = await http.post("/v1/apps/helper/runs", json=RUN, headers={"Host": host})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "host_not_allowed"
        r = await http.get("/v1/apps", headers={"Host": host})
        assert r.status_code == 403
    assert await _sessions(runners) == 0


async def test_allowed_hosts_and_keys_lift_the_host_rule(runners: dict[str, Runner]) -> None:
    app = create_app(runners, api_keys=[], allowed_hosts=["devbox.lan"])
    async with app.router.lifespan_context(app), _client(app) as http:
        assert (await http.get("/v1/apps", headers={"Host": "devbox.lan:8000"})).status_code == 200
    keyed = create_app(runners, api_keys=KEYS)
    async with keyed.router.lifespan_context(keyed), _client(keyed) as http:
        auth = {"Authorization": f"Bearer {ADMIN}", "Host": "agents.example.com"}
        assert (await http.get("/v1/apps", headers=auth)).status_code == 200


async def test_a_client_of_another_machine_is_refused_and_logged(
    open_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "agenthost.server"):
        async with _client(open_app, client=("203.0.113.7", 40000)) as http:
            first = await http.get("/v1/apps")
            second = await http.get("/v1/apps")
    assert first.status_code == second.status_code == 403
    assert first.json()["error"]["code"] == "local_only"
    warnings = [r for r in caplog.records if "203.0.113.7" in r.getMessage()]
    assert len(warnings) == 1  # once, not per request


async def test_create_app_without_keys_warns_loudly(
    runners: dict[str, Runner], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "agenthost.server"):
        create_app(runners, api_keys=[])
    assert any("local development mode" in r.getMessage() for r in caplog.records)


async def test_a_mapped_ipv4_loopback_client_is_local(open_app: Any) -> None:
    async with _client(open_app, client=("::ffff:127.0.0.1", 40000)) as http:
        assert (await http.get("/v1/apps", headers={"Host": "localhost."})).status_code == 200
    async with _client(open_app, client=("::ffff:203.0.113.7", 40000)) as http:
        assert (await http.get("/v1/apps")).status_code == 403


async def test_insecure_serves_other_machines(runners: dict[str, Runner]) -> None:
    app = create_app(runners, api_keys=[], insecure=True)
    async with (
        app.router.lifespan_context(app),
        _client(app, client=("203.0.113.7", 40000)) as http,
    ):
        r = await http.get("/v1/apps", headers={"Host": "192.168.1.5:8000"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [("/a2a/helper/", RPC), ("/v1/apps/helper/runs", RUN), ("/v1/chat/completions", None)],
)
async def test_a_simple_cross_site_request_starts_nothing(
    open_app: Any, runners: dict[str, Runner], path: str, body: Any
) -> None:
    """A browser sends `text/plain` (or a form) cross-site without a CORS preflight."""
    if body is None:
        body = {"model": "helper", "messages": [{"role": "user", "content": "hi"}]}
    async with _client(open_app) as http:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            r = await http.post(
                path,
                content=orjson.dumps(body),
                headers={"Content-Type": content_type, "Origin": "http://localhost:8000"},
            )
            assert r.status_code == 415, r.text
            assert r.json()["error"]["code"] == "unsupported_media_type"
    assert await _sessions(runners) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_a_cross_site_request_changes_nothing(
    open_app: Any, runners: dict[str, Runner], headers: dict[str, str]
) -> None:
    async with _client(open_app) as http:
        r = await http.post("/v1/apps/helper/runs", json=RUN, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site"
        r = await http.post("/a2a/helper/", json=RPC, headers=headers)
        assert r.status_code == 403
        r = await http.delete("/v1/apps/helper/sessions/s1", headers=headers)
        assert r.status_code == 403
    assert await _sessions(runners) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost:8000", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://localhost:5173"},  # one of cors_origins
        {},  # not a browser
    ],
)
async def test_own_and_configured_origins_may_run(
    open_app: Any, runners: dict[str, Runner], headers: dict[str, str]
) -> None:
    async with _client(open_app) as http:
        r = await http.post("/v1/apps/helper/runs", json=RUN, headers=headers)
    assert r.status_code == 200, r.text
    assert await _sessions(runners) == 1


# ---- keys ----------------------------------------------------------------------------------

# what answers without a key when keys are configured (docs/server.md, "Security")
PUBLIC = {
    "/healthz",
    "/readyz",
    "/",
    "/web/{name}",
    "/.well-known/agent-card.json",
    "/.well-known/agent.json",
    "/a2a/{agent}/.well-known/agent-card.json",
    "/a2a/{agent}/.well-known/agent.json",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}


def _concrete(path: str) -> str:
    values = {"agent": "helper", "name": "app.js", "model": "helper"}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x1"), path)


def _routes(routes: list[Any]) -> list[Any]:
    """Every route of an app, through FastAPI's included routers."""
    found: list[Any] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        found += _routes(included.routes) if included is not None else [route]
    return found


async def test_with_keys_every_route_but_the_public_ones_needs_one(users: Users) -> None:
    app = users.alice._transport.app  # type: ignore[attr-defined]
    checked = 0
    routes = _routes(app.routes)
    async with client_for(app) as anonymous:
        for route in routes:
            path = getattr(route, "path", "")
            methods = sorted(getattr(route, "methods", None) or ())
            for method in methods:
                if method == "HEAD":
                    continue
                kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
                r = await anonymous.request(method, _concrete(path), **kwargs)
                if path in PUBLIC:
                    assert r.status_code != 401, (method, path)
                else:
                    assert r.status_code == 401, (method, path, r.status_code, r.text)
                    checked += 1
    assert checked >= 15
    assert any(isinstance(r, APIRoute) and r.path == "/a2a" for r in routes)


# ---- request heads ---------------------------------------------------------------------------


async def test_too_many_headers_is_a_431(open_app: Any) -> None:
    async with _client(open_app) as http:
        many = {f"x-h{i}": "1" for i in range(120)}
        r = await http.get("/healthz", headers=many)
        assert r.status_code == 431
        assert r.json()["error"]["code"] == "headers_too_large"
        big = await http.get("/healthz", headers={"x-big": "a" * 40_000})
        assert big.status_code == 431
        assert (await http.get("/healthz", headers={"x-ok": "a" * 8000})).status_code == 200


async def test_header_limits_are_settings(runners: dict[str, Runner]) -> None:
    app = create_app(runners, api_keys=[], max_headers=8, max_header_bytes=100_000)
    async with app.router.lifespan_context(app), _client(app) as http:
        assert (await http.get("/healthz", headers={"x-big": "a" * 60_000})).status_code == 200
        many = {f"x-h{i}": "1" for i in range(8)}
        assert (await http.get("/healthz", headers=many)).status_code == 431


# ---- A2A parse errors ------------------------------------------------------------------------


async def _rpc(open_app: Any, content: bytes) -> dict[str, Any]:
    async with _client(open_app) as http:
        r = await http.post(
            "/a2a/helper/", content=content, headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 200, r.text
    assert "Traceback" not in r.text and "Error(" not in r.text and "Exception" not in r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a2a_invalid_utf8_is_a_parse_error(open_app: Any) -> None:
    body = await _rpc(open_app, b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}')
    assert body["error"]["code"] == -32700
    assert (await _rpc(open_app, b"{not json"))["error"]["code"] == -32700


@pytest.mark.parametrize("depth", [100, 5000])
async def test_a2a_deep_nesting_is_an_invalid_request(open_app: Any, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    content = b'{"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": %s}' % (
        nested.encode()
    )
    body = await _rpc(open_app, content)
    assert body["error"]["code"] == -32600
    assert "nested" in body["error"]["message"]


async def test_the_last_of_a_repeated_header_is_the_one_checked(
    open_app: Any, runners: dict[str, Runner]
) -> None:
    """The guard reads the headers it checks in one pass; a repeated one counts as its last."""
    async with _client(open_app) as http:
        repeated = [("content-type", "application/json"), ("content-type", "text/plain")]
        r = await http.post("/v1/apps/helper/runs", content=orjson.dumps(RUN), headers=repeated)
        assert r.status_code == 415, r.text
        repeated = [("host", "localhost"), ("host", "evil.example")]
        r = await http.get("/v1/apps", headers=repeated)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "host_not_allowed"
    assert await _sessions(runners) == 0
