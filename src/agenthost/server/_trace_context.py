"""Incoming trace context: a request's W3C `traceparent` (and `tracestate`) becomes the
parent of everything the request starts, on every route (native, OpenAI-compatible, A2A, the
run routes `_fast_runs` serves without FastAPI). A run's task is created while the request is
handled, so it inherits the context, and its spans join the caller's trace.

Pure ASGI and outermost; installed only when tracing is on (see `create_app`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from agenthost.engine import tracing

_NAMES = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


class TraceContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
