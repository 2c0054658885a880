"""The incoming-trace-context middleware and the outgoing hooks, with a tracer of the test's
own (no global provider: other tests in this process must not trace)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import Receive, Scope, Send

from agenthost.backends.common.http import make_http_client
from agenthost.backends.common.propagation import aiohttp_trace_configs, httpx_event_hooks
from agenthost.engine import tracing
from agenthost.server._trace_context import TraceContextMiddleware

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    provider = TracerProvider()
    tracing.reset()
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("agenthost"))
    monkeypatch.setattr(tracing, "_enabled", True)
    yield
    tracing.reset()


def _scope(**extra: Any) -> Scope:
    headers = [(b"traceparent", f"00-{TRACE}-{PARENT}-01".encode()), (b"host", b"x")]
    return {"type": "http", "method": "POST", "path": "/", "headers": headers, **extra}


async def _seen_context(scope: Scope) -> tuple[str, str] | None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(trace.get_current_span().get_span_context())

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        pass

    await TraceContextMiddleware(app)(scope, nothing, ignore)
    ctx = seen[0]
    if not ctx.is_valid:
        return None
    after = trace.get_current_span().get_span_context()
    assert not after.is_valid  # detached once the request is done
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


@pytest.mark.usefixtures("traced")
async def test_a_request_runs_in_the_callers_trace_context() -> None:
    assert await _seen_context(_scope()) == (TRACE, PARENT)


@pytest.mark.usefixtures("traced")
async def test_requests_fastapi_traces_itself_pass_through() -> None:
    assert await _seen_context(_scope(**{"fastapi.telemetry": object()})) is None


async def test_with_tracing_off_nothing_is_attached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_enabled", False)
    assert await _seen_context(_scope()) is None
    assert aiohttp_trace_configs() == [] and httpx_event_hooks() == {}


@pytest.mark.usefixtures("traced")
async def test_the_http_clients_send_the_current_span_as_parent() -> None:
    received: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(request.headers.get("traceparent"))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/"
    try:
        with tracing.span("model call") as current:
            span_id = format(current.get_span_context().span_id, "016x")
            trace_id = format(current.get_span_context().trace_id, "032x")
            client = make_http_client()  # models and platforms (aiohttp)
            try:
                async with client.get(url) as response:
                    assert response.status == 200
            finally:
                await client.close()
            async with httpx.AsyncClient(event_hooks=httpx_event_hooks()) as a2a:  # A2A
                assert (await a2a.get(url)).status_code == 200
        async with aiohttp.ClientSession(trace_configs=aiohttp_trace_configs()) as outside:
            await (await outside.get(url)).release()  # no span current: nothing sent
    finally:
        await runner.cleanup()
    parents = [value.rsplit("-", 1)[0] if value else None for value in received]
    assert parents == [f"00-{trace_id}-{span_id}"] * 2 + [None]  # flags: sampled, maybe random
