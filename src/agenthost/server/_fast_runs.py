"""The hot routes without FastAPI's routing and dependency machinery (pure ASGI).

`POST /v1/apps/{agent}/runs` and `POST /v1/apps/{agent}/sessions/{sid}/runs` are what a
busy server mostly serves. Through FastAPI each costs route matching over every route, a
`Request`, dependency resolution (state, bearer scheme, principal), body parsing and
validation. This middleware, the innermost one (so CORS, the request guard, the body limit and
FastAPI's own outer layers still run first), takes those routes' paths and endpoints from the
app's own routes (`RunRoutes.of`, the endpoints `native.FAST_ENDPOINTS` names) and calls the
route function itself with what its dependencies would give: there is one implementation of a
run route, the route function; this only resolves its arguments more cheaply.

It takes a request only on the straight path: a JSON body that decodes and validates as a
`RunBody`, a valid session id, no `root_path` and no FastAPI telemetry on the request. Anything
else goes on to the app with the body it read replayed, so every validation error stays the
routes' own. What the route raises (no or a bad key, an unknown agent, a busy session, a
before-run hook's refusal) gets the app's `AgentHostError` answer; any other exception goes up
to the app's server-error handler, as from a route.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import orjson
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agenthost.core.errors import AgentHostError
from agenthost.server.auth import USER_HEADER, resolve_principal
from agenthost.server.native import FAST_ENDPOINTS
from agenthost.server.schemas import SESSION_ID_PATTERN, RunBody
from agenthost.server.state import ServerState

ErrorResponse = Callable[[str, str, AgentHostError], Response]
Endpoint = Callable[..., Awaitable[Response]]

_SESSION_ID = re.compile(SESSION_ID_PATTERN)
_TELEMETRY = "fastapi.telemetry"  # in the scope when FastAPI's own tracing/metrics are on
# the scope key under which the app hands over the run route it matched (see `app._App`)
MATCHED_RUN_ROUTE = "agenthost.run_route"
_AUTH_HEADERS = {b"authorization", b"x-api-key", USER_HEADER.encode(), b"content-type"}


@dataclass(frozen=True, slots=True)
class RunRoutes:
    """The run routes of an app: each one's path pattern and route function."""

    routes: tuple[tuple[re.Pattern[str], Endpoint], ...] = ()

    @classmethod
    def of(cls, routes: Iterable[BaseRoute]) -> RunRoutes:
        found = tuple(
            (route.path_regex, route.endpoint)
            for route in routes
            if isinstance(route, APIRoute)
            and route.endpoint in FAST_ENDPOINTS
            and route.methods == {"POST"}
        )
        return cls(found)

    def match(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The route function and path parameters of a run route's path, or None."""
        for pattern, endpoint in self.routes:
            found = pattern.match(path)
            if found is not None:
                return endpoint, found.groupdict()
        return None


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()  # what FastAPI reads as JSON
    maintype, _, subtype = kind.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` that gives the body already read first, then whatever comes next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (None if the client left while sending it)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _parse(body: bytes) -> RunBody | None:
    """The body as FastAPI would validate it (JSON, then the model); None if it is not one."""
    try:
        return RunBody.model_validate(orjson.loads(body), from_attributes=True)
    except (orjson.JSONDecodeError, ValidationError):
        return None


class FastRunsMiddleware:
    """Serves the run routes of the native API directly (see the module doc)."""

    def __init__(
        self, app: ASGIApp, *, state: ServerState, routes: RunRoutes, on_error: ErrorResponse
    ) -> None:
        self.app = app
        self.state = state
        self.routes = routes
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = scope.pop(MATCHED_RUN_ROUTE, None)  # the app's own match of the path
        match = None
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and _TELEMETRY not in scope
        ):
            match = matched or self.routes.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        endpoint, params = match
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _AUTH_HEADERS and name not in headers:
                headers[name] = value.decode("latin-1")
        body = await _read_body(receive)
        if body is None:
            return  # the client is gone: nothing to answer
        parsed = _parse(body) if _is_json(headers.get(b"content-type")) else None
        session_id = params.get("session_id")
        if parsed is None or (session_id is not None and not _SESSION_ID.fullmatch(session_id)):
            await self.app(scope, _replay(body, receive), send)
            return
        response = await self._start(scope, headers, endpoint, params, parsed)
        await response(scope, receive, send)

    async def _start(
        self,
        scope: Scope,
        headers: dict[bytes, str],
        endpoint: Endpoint,
        params: dict[str, str],
        body: RunBody,
    ) -> Response:
        state = self.state
        try:
            who = resolve_principal(
                state.settings.api_keys,
                authorization=headers.get(b"authorization"),
                api_key=headers.get(b"x-api-key"),
                act_as=headers.get(USER_HEADER.encode()),
            )
            scope.setdefault("state", {})["principal"] = who  # as `current_principal` does
            return await endpoint(who=who, state=state, body=body, **params)
        except AgentHostError as exc:
            return self.on_error(scope["method"], scope["path"], exc)
