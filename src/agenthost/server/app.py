"""`create_app()`: the FastAPI app that hosts the agents of a config (or runners you built).

    from agenthost.config import load_config
    from agenthost.server import create_app

    app = create_app(load_config("agenthost.yaml"))        # uvicorn module:app

What it serves comes from routers, by name, through a registry: `ops` (health, readiness,
metrics), `native` (/v1/apps/...), `approvals` (/v1/apps/{agent}/approvals), `openai`
(/v1/models, /v1/chat/completions, /v1/responses), `web` (the chat page at /).
Other parts register theirs (`register_router("a2a", "agenthost.server.a2a:router")`) and
embedders add their own with `extra_routers=[...]` (an APIRouter, or a factory that gets the
`ServerState`).

The lifespan opens what the app owns (the runtimes of a config; runners you pass in are
yours to open and close), starts the TaskGroup that owns every run, calls the `on_startup`
hooks, and on shutdown stops taking runs, lets running ones finish for `shutdown_grace`
seconds, cancels the rest, calls `on_shutdown` and closes everything.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from agenthost import __version__
from agenthost.config.build import Runtime
from agenthost.config.schema import AgentHostConfig, ServerConfig
from agenthost.core.errors import AgentHostError, ConfigError
from agenthost.engine import tracing
from agenthost.engine.runner import Runner
from agenthost.server._body_limit import BodyLimitMiddleware
from agenthost.server._fast_runs import MATCHED_RUN_ROUTE, FastRunsMiddleware, RunRoutes
from agenthost.server._guard import RequestGuardMiddleware
from agenthost.server._trace_context import TraceContextMiddleware
from agenthost.server._validation import drop_tracebacks, validation_error
from agenthost.server.auth import ApiKeys
from agenthost.server.cluster import open_cluster, start_listener
from agenthost.server.errors import RouteNotFound, encode_error, error_body, retry_after_header
from agenthost.server.runs import AfterRun, BeforeRun, OnDisconnect, RunManager
from agenthost.server.state import RouterFactory, ServerSettings, ServerState

log = logging.getLogger("agenthost.server")

LifecycleHook = Callable[[ServerState], Awaitable[None] | None]
RouterSpec = str | APIRouter | RouterFactory

_ROUTERS: dict[str, str | RouterFactory] = {
    "ops": "agenthost.server.ops:router",
    "native": "agenthost.server.native:router",
    "approvals": "agenthost.server.approvals:router",  # /v1/apps/{agent}/approvals
    "artifacts": "agenthost.server.artifacts:router",
    "openai": "agenthost.server.openai:router",
    "web": "agenthost.server.web:router",
    "a2a": "agenthost.server.a2a:router",  # empty without the a2a extra
    "mcp": "agenthost.server.mcp:router",  # POST /mcp; empty without the mcp extra
    "knowledge": "agenthost.server.knowledge:router",  # /v1/knowledge_bases, per user
    "agui": "agenthost.server.agui:router",  # POST /agui/{agent}: AG-UI over SSE
    "usage": "agenthost.server.usage:router",  # GET /v1/usage: cost by user, agent, day
}


def register_router(name: str, factory: str | RouterFactory) -> None:
    """Serve router `name` in every app made from now on (unless `routers=` leaves it out).
    `factory` is a `(ServerState) -> APIRouter` callable or a 'module:attribute' string,
    imported when an app is made."""
    _ROUTERS[name] = factory


def registered_routers() -> list[str]:
    return list(_ROUTERS)


def _load_router(spec: RouterSpec, state: ServerState) -> APIRouter:
    if isinstance(spec, APIRouter):
        return spec
    if isinstance(spec, str):
        target = _ROUTERS.get(spec)
        if target is None:
            raise ConfigError(
                f"Unknown router {spec!r}; registered: {', '.join(_ROUTERS)}. Register it with "
                f"agenthost.server.register_router(name, factory)."
            )
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
        spec = target
    router = spec(state)
    if not isinstance(router, APIRouter):
        raise ConfigError(f"Router factory {spec!r} returned {router!r}, not an APIRouter.")
    return router


def _settings(
    config: AgentHostConfig | None,
    env: Mapping[str, str],
    *,
    api_keys: ApiKeys | Sequence[str] | None,
    overrides: dict[str, Any],
) -> ServerSettings:
    server = (config or AgentHostConfig()).server
    if isinstance(api_keys, ApiKeys):
        keys = api_keys
    elif api_keys is not None:
        keys = ApiKeys.parse(list(api_keys))
    else:
        keys = ApiKeys.from_sources(server.api_keys, env)
    values: dict[str, Any] = {
        "cors_origins": list(server.cors_origins),
        "max_body_bytes": server.max_body_bytes,
        "on_disconnect": server.on_disconnect,
        "shutdown_grace": server.shutdown_grace,
        "replay_buffer": server.replay_buffer,
    }
    values.update(_host_settings(server))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServerSettings(api_keys=keys, **values)


def _host_settings(server: ServerConfig) -> dict[str, Any]:
    """Request-head limits, and the Host names served without keys: `allowed_hosts` and the
    bind host when it is one name or address."""
    hosts = list(server.allowed_hosts)
    if server.host not in ("0.0.0.0", "::", ""):
        hosts.append(server.host)
    return {
        "max_headers": server.max_headers,
        "max_header_bytes": server.max_header_bytes,
        "allowed_hosts": hosts,
    }


AppSource = AgentHostConfig | Runtime | Runner | Mapping[str, Runner] | Mapping[str, Runtime]


def _given_runners(source: AppSource | None) -> dict[str, Runner] | None:
    """The runners handed in (None when a config must be opened by the lifespan)."""
    if source is None or isinstance(source, AgentHostConfig):
        return None
    if isinstance(source, Runtime):
        return {source.agent_name: source.runner}
    if isinstance(source, Runner):
        return {source.agent.manifest.name: source}
    runners: dict[str, Runner] = {}
    for name, item in source.items():
        runners[name] = item.runner if isinstance(item, Runtime) else item
    return runners


def create_app(
    source: AppSource | None = None,
    *,
    api_keys: ApiKeys | Sequence[str] | None = None,
    cors_origins: Sequence[str] | None = None,
    max_body_bytes: int | None = None,
    on_disconnect: OnDisconnect | None = None,
    shutdown_grace: float | None = None,
    replay_buffer: int | None = None,
    ping_interval: float | None = None,
    metrics_public: bool | None = None,
    max_headers: int | None = None,
    max_header_bytes: int | None = None,
    allowed_hosts: Sequence[str] | None = None,
    insecure: bool | None = None,
    routers: Sequence[str] | None = None,
    extra_routers: Sequence[APIRouter | RouterFactory] = (),
    on_startup: Sequence[LifecycleHook] = (),
    on_shutdown: Sequence[LifecycleHook] = (),
    before_run: Sequence[BeforeRun] = (),
    after_run: Sequence[AfterRun] = (),
    env: Mapping[str, str] | None = None,
) -> FastAPI:
    """The HTTP server app.

    `source`: an `AgentHostConfig` (its agents are built and opened by the app's lifespan,
    each its own app `<config.app>/<agent>`; None = the built-in demo config), or runners you
    opened yourself: a `Runner`, a `Runtime`, or a mapping of agent name to either.

    `api_keys`: entries such as `"KEY:alice"` (see `agenthost.server.auth`); None reads the
    config's `server.api_keys` plus `AGENTHOST_API_KEYS` from `env` (default `os.environ`).
    No key means local development mode (everyone is the admin user `local`): the app then
    serves only this machine (a loopback client and `Host`, see `_guard`) unless `insecure`;
    `allowed_hosts` adds `Host` names to accept. `max_headers` / `max_header_bytes`: more is
    a 431.
    The other settings default to the config's `server:` section (see ServerConfig).

    `routers`: the registered routers to serve (default: all); `extra_routers`: yours.
    `on_startup(state)` / `on_shutdown(state)`: called after the runners are up / before they
    are closed. `before_run(request)`: may raise an AgentHostError (e.g. `Forbidden`) to
    refuse a run with a 4xx; `after_run(request, terminal_event)`: after every run.
    """
    config = source if isinstance(source, AgentHostConfig) else None
    if source is None:
        config = AgentHostConfig()
    given = _given_runners(source)
    settings = _settings(
        config,
        os.environ if env is None else env,
        api_keys=api_keys,
        overrides={
            "cors_origins": list(cors_origins) if cors_origins is not None else None,
            "max_body_bytes": max_body_bytes,
            "on_disconnect": on_disconnect,
            "shutdown_grace": shutdown_grace,
            "replay_buffer": replay_buffer,
            "ping_interval": ping_interval,
            "metrics_public": metrics_public,
            "max_headers": max_headers,
            "max_header_bytes": max_header_bytes,
            "allowed_hosts": list(allowed_hosts) if allowed_hosts is not None else None,
            "insecure": insecure,
        },
    )
    state = ServerState(settings, config=config)
    hooks = _Hooks(list(on_startup), list(on_shutdown), list(before_run), list(after_run))
    app = _App(
        title="agenthost",
        version=__version__,
        description="Agents over HTTP: the native API, an OpenAI-compatible API, operations.",
        lifespan=_lifespan(state, given, config, hooks),
    )
    app.state.agenthost = state
    agents = (
        list(given) if given is not None else list((config or AgentHostConfig()).effective_agents())
    )
    app.openapi = _openapi(app, agents)  # type: ignore[method-assign]
    _install_errors(app)
    served = [*(routers if routers is not None else _ROUTERS), *extra_routers]
    loaded = [_load_router(spec, state) for spec in served]
    for router in loaded:
        app.include_router(router)
    app.run_routes = RunRoutes.of(route for router in loaded for route in router.routes)
    if app.run_routes.routes:
        # the innermost middleware: the run routes without FastAPI's machinery (_fast_runs)
        app.add_middleware(
            FastRunsMiddleware,
            state=state,
            routes=app.run_routes,
            on_error=agenthost_error_response,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RequestGuardMiddleware,
        local_mode=not settings.api_keys and not settings.insecure,
        max_headers=settings.max_headers,
        max_header_bytes=settings.max_header_bytes,
        allowed_hosts=settings.allowed_hosts,
        cors_origins=settings.cors_origins,
    )
    if not settings.api_keys:
        log.warning(
            "no API keys: local development mode, every caller is the admin user 'local'; %s",
            "serving other machines too (insecure)"
            if settings.insecure
            else "only this machine is served (set AGENTHOST_API_KEYS to serve others)",
        )
    if settings.cors_origins:  # outermost, so that errors (a 413 too) carry CORS headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Run-Id", "X-Session-Id"],
        )
    if tracing.enabled():  # outermost: a caller's `traceparent` parents the whole request
        app.add_middleware(TraceContextMiddleware)
    return app


class _App(FastAPI):
    """FastAPI, but a request to a run route (`run_routes`, served by `_fast_runs`) goes
    straight to the middleware stack while agenthost's tracing is off: FastAPI's own
    `__call__` asks OpenTelemetry whether its telemetry is on (three provider look-ups) on
    every request. With tracing on (a tracer provider configured), or a `root_path`, every
    request takes FastAPI's way, its telemetry included."""

    run_routes = RunRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not self.root_path
            and not tracing.enabled()
            and (route := self.run_routes.match(scope["path"])) is not None
        ):
            scope["app"] = self
            scope[MATCHED_RUN_ROUTE] = route  # `_fast_runs` takes it instead of matching again
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            await self.middleware_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


@dataclass(slots=True)
class _Hooks:
    on_startup: list[LifecycleHook]
    on_shutdown: list[LifecycleHook]
    before_run: list[BeforeRun]
    after_run: list[AfterRun]


def _lifespan(
    state: ServerState,
    given: dict[str, Runner] | None,
    config: AgentHostConfig | None,
    hooks: _Hooks,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open what the app owns, own every run in a TaskGroup, shut down gracefully."""
    settings = state.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if given is not None:
                state.runners = dict(given)
            else:
                from agenthost.config.build import build_runtimes

                runtimes = await stack.enter_async_context(build_runtimes(config))
                state.runners = {name: rt.runner for name, rt in runtimes.items()}
            cluster = await stack.enter_async_context(open_cluster(state, config))
            async with asyncio.TaskGroup() as group:
                manager = RunManager(
                    group,
                    capacity=settings.replay_buffer,
                    before_run=hooks.before_run,
                    after_run=hooks.after_run,
                    observers=[state.metrics.observe],
                    grace=settings.shutdown_grace,
                    streams=cluster.streams if cluster is not None else None,
                )
                state.runs = manager
                listener = start_listener(group, cluster, manager)  # cancels from replicas
                try:
                    for hook in hooks.on_startup:
                        await _call(hook, state)
                    # everything loaded so far lives as long as the process: keep it out of the
                    # cyclic GC's generations (measured: ~100 µs less per turn)
                    gc.freeze()
                    log.info(
                        "server ready: agents %s, %s",
                        ", ".join(state.runners),
                        f"{len(settings.api_keys)} API keys"
                        if settings.api_keys
                        else "no API keys (local development mode)",
                    )
                    yield
                finally:
                    await manager.shutdown(settings.shutdown_grace)
                    if listener is not None:
                        listener.cancel()
                    for hook in hooks.on_shutdown:
                        try:
                            await _call(hook, state)
                        except Exception:
                            log.exception("on_shutdown hook %r failed", hook)
                    for close in reversed(state.closers):
                        await close()
                    state.closers.clear()
                    state.runs = None

    return lifespan


async def _call(hook: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = hook(*args)
    if result is not None:
        await result


def _openapi(app: FastAPI, agents: list[str]) -> Callable[[], dict[str, Any]]:
    """The OpenAPI schema, with the agent names as the values of `{agent}` and `model`."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for param in operation.get("parameters", []):
                    if param.get("in") == "path" and param.get("name") == "agent":
                        param["schema"]["enum"] = agents
        for name in ("ChatCompletionBody", "ResponsesBody"):
            model = schema.get("components", {}).get("schemas", {}).get(name, {})
            if "model" in model.get("properties", {}):
                model["properties"]["model"]["examples"] = agents
        app.openapi_schema = schema
        return schema

    return build


def server_state(app: FastAPI) -> ServerState:
    state: ServerState = app.state.agenthost
    return state


# ---- errors ------------------------------------------------------------------------------


def _json(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def agenthost_error_response(method: str, path: str, exc: AgentHostError) -> Response:
    """The answer to an AgentHostError a route raised (logged when it is the server's)."""
    status, body = encode_error(exc)
    if status >= 500:
        log.error("%s %s failed: %s %s", method, path, exc.code, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else retry_after_header(exc)
    return _json(status, body, headers)


def _install_errors(app: FastAPI) -> None:
    async def agenthost_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AgentHostError)
        return agenthost_error_response(request.method, request.url.path, exc)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        status, body = validation_error(exc, request.headers.get("content-type"))
        drop_tracebacks(exc)  # its cause's traceback holds the request's frames in a cycle
        return _json(status, body)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error: AgentHostError = RouteNotFound(
                f"No route {request.method} {request.url.path}; see /docs for the API."
            )
            status, body = encode_error(error)
            return _json(status, body)
        code = "method_not_allowed" if exc.status_code == 405 else "http_error"
        payload = error_body(code, str(exc.detail), status=exc.status_code)
        return _json(exc.status_code, orjson.dumps(payload), exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        payload = error_body(
            "internal_error", "The server failed; the details are in its log.", status=500
        )
        return _json(500, orjson.dumps(payload))

    app.add_exception_handler(AgentHostError, agenthost_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
