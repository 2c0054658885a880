"""Incoming trace context: a request's W3C `traceparent` (and `tracestate`) becomes the
parent of everything the request starts, on every route (native, OpenAI-compatible, A2A). A
run's task is created while the request is handled, so it inherits the context, and its spans
join the caller's trace.

FastAPI's own telemetry (present in recent FastAPI, on whenever a tracer provider is) does
this already, with an HTTP server span between the caller and the run: a request it traces
(`fastapi.telemetry` in the scope) passes through untouched. This middleware is for the
requests it does not trace (FastAPI without it, or with its tracing turned off), among them
the run routes `_fast_runs` then serves without FastAPI's routing.

Pure ASGI; installed only when tracing is on (see `create_app`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from agenthost.engine import tracing

_FASTAPI_TELEMETRY = "fastapi.telemetry"
_NAMES = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


class TraceContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _FASTAPI_TELEMETRY in scope:
            await self.app(scope, receive, send)
            return
        carrier: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = _NAMES.get(name)
            if key is not None and key not in carrier:
                carrier[key] = value.decode("latin-1")
        token = tracing.attach(carrier)
        if token is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            tracing.detach(token)
