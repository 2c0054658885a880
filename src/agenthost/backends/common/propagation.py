"""The trace context on every outgoing request of the model and platform clients.

Both HTTP clients in use get a hook that adds `traceparent` (W3C Trace Context) from the
current span, so a model server, a Dify/Coze/Bailian call or a remote A2A agent continues the
run's trace: aiohttp (`make_http_client`: models and platforms) through a `TraceConfig`,
httpx (the A2A client) through an event hook. With tracing off the clients get no hook at
all, so a request costs nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

from agenthost.engine import tracing


async def _on_request_start(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestStartParams,
) -> None:
    tracing.inject(params.headers)  # a CIMultiDict: mutable, read when the request is sent


def aiohttp_trace_configs() -> list[aiohttp.TraceConfig]:
    """`trace_configs` for an `aiohttp.ClientSession`: [] when tracing is off."""
    if not tracing.enabled():
        return []
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_on_request_start)
    return [config]


async def _on_httpx_request(request: Any) -> None:
    tracing.inject(request.headers)


def httpx_event_hooks() -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """`event_hooks` for an `httpx.AsyncClient`: {} when tracing is off."""
    if not tracing.enabled():
        return {}
    return {"request": [_on_httpx_request]}
