"""Operations: `/healthz` (the process answers), `/readyz` (started, not shutting down, every
store reachable), `/metrics` (Prometheus; an admin key when keys are configured, unless
`metrics_public`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from agenthost.server.state import (
    ServerState,
    State,
    current_principal,
    require_admin,
    server_state,
)

log = logging.getLogger("agenthost.server.ops")

READY_TIMEOUT = 2.0


async def ping_store(store: Any) -> None:
    """A store's readiness check: its `check()` (raises StoreError when the store is unusable:
    its file deleted or replaced, corrupt), else its `ping()`, else a listing of a user nobody
    is."""
    check = getattr(store, "check", None)
    if callable(check):
        await check()
        return
    ping = getattr(store, "ping", None)
    if callable(ping):
        await ping()
    else:
        await store.list(app="agenthost-readyz", user_id="agenthost-readyz")


async def metrics_access(request: Request) -> None:
    """With keys configured, /metrics needs an admin key (unless `metrics_public`)."""
    settings = server_state(request).settings
    if settings.metrics_public or not settings.api_keys:
        return
    await require_admin(await current_principal(request))


api = APIRouter(tags=["operations"])


@api.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@api.get("/readyz", summary="Readiness: started, not shutting down, stores reachable")
async def readyz(state: State) -> Response:
    problems: list[str] = []
    if not state.ready:
        problems.append("not started or shutting down")
    stores = {id(r.store): r.store for r in state.runners.values()}
    for store in stores.values():
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await ping_store(store)
        except Exception as exc:
            log.warning("readiness: store %r failed: %s", store, exc)
            problems.append(f"store {type(store).__name__} unreachable: {exc}")
    channels = state.extras.get("channels")  # server/channels.py, when serve runs them
    if channels is not None:
        problems.extend(channels.problems())
    body: dict[str, Any] = {"status": "ready" if not problems else "unavailable"}
    if problems:
        body["problems"] = problems
    if channels is not None:
        body["channels"] = channels.report()
    return Response(
        orjson.dumps(body), status_code=503 if problems else 200, media_type="application/json"
    )


@api.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(metrics_access)])
async def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


def router(state: ServerState) -> APIRouter:
    """Health, readiness and metrics (the handlers find the state through the request)."""
    return api
