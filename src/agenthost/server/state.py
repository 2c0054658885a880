"""What every router of the server shares: settings, runners, runs, auth, metrics.

A router factory (`RouterFactory`) gets the `ServerState` and returns an APIRouter; the state's
runners and run manager are filled in when the app starts (its lifespan), so route handlers
read them at request time, never at import or factory time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agenthost.config.schema import AgentHostConfig
from agenthost.core.errors import ConfigError
from agenthost.engine.runner import Runner
from agenthost.server.auth import USER_HEADER, ApiKeys, Principal, resolve_principal
from agenthost.server.errors import AgentNotFound, Forbidden, ServiceUnavailable
from agenthost.server.metrics import Metrics
from agenthost.server.runs import OnDisconnect, RunManager


@dataclass(slots=True, kw_only=True)
class ServerSettings:
    """How the server behaves (from `create_app` arguments, the config's `server:` section and
    the environment, in that order). The repr shows no key."""

    api_keys: ApiKeys = field(default_factory=ApiKeys)
    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = 1_048_576
    on_disconnect: OnDisconnect = "continue"
    shutdown_grace: float = 30.0
    replay_buffer: int = 1024
    ping_interval: float = 15.0  # seconds of silence before an SSE keep-alive comment
    metrics_public: bool = False  # with keys configured, /metrics needs an admin key unless True
    max_headers: int = 100  # header lines per request; more is a 431
    max_header_bytes: int = 32768  # request target + headers; more is a 431
    allowed_hosts: list[str] = field(default_factory=list)  # Host names beyond loopback (no keys)
    insecure: bool = False  # no keys and yet serve other machines (`agenthost serve --insecure`)

    def __post_init__(self) -> None:
        positive = {
            "max_body_bytes": self.max_body_bytes,
            "replay_buffer": self.replay_buffer,
            "ping_interval": self.ping_interval,
            "max_headers": self.max_headers,
            "max_header_bytes": self.max_header_bytes,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"server setting {name} must be a positive number, got {value!r}")
        if not isinstance(self.shutdown_grace, int | float) or self.shutdown_grace < 0:
            raise ConfigError(f"shutdown_grace must be seconds >= 0, got {self.shutdown_grace!r}")
        if self.on_disconnect not in ("continue", "cancel"):
            raise ConfigError(
                f"on_disconnect must be 'continue' or 'cancel', got {self.on_disconnect!r}"
            )


class ServerState:
    def __init__(self, settings: ServerSettings, *, config: AgentHostConfig | None = None) -> None:
        self.settings = settings
        self.config = config
        self.metrics = Metrics()
        self.started_at = time.time()
        self.runners: dict[str, Runner] = {}
        self._runs: RunManager | None = None
        self.page_path: str | None = None  # a web page a router serves (shown in the banner)
        self.extras: dict[str, Any] = {}  # for routers that need to keep something
        # what routers opened lazily (a knowledge store), closed when the server stops
        self.closers: list[Callable[[], Awaitable[None]]] = []

    @property
    def runs(self) -> RunManager:
        if self._runs is None:
            raise ServiceUnavailable(
                "The server is not started: run it with its lifespan (uvicorn does; in tests "
                "use `async with app.router.lifespan_context(app)`)."
            )
        return self._runs

    @runs.setter
    def runs(self, manager: RunManager | None) -> None:
        self._runs = manager

    @property
    def ready(self) -> bool:
        return self._runs is not None and not self._runs.closing

    def agent_names(self) -> list[str]:
        return list(self.runners)

    def runner(self, name: str, *, field: str = "agent") -> Runner:
        runner = self.runners.get(name)
        if runner is None:
            raise AgentNotFound(name, self.agent_names(), field=field)
        return runner


# ---- dependencies (module level, so that routers' annotations resolve) --------------------

_bearer = HTTPBearer(auto_error=False, description="An API key of this server.")


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.agenthost
    return state


async def get_state(request: Request) -> ServerState:
    """The dependency (async: FastAPI runs a plain `def` dependency in a worker thread)."""
    return server_state(request)


State = Annotated[ServerState, Depends(get_state)]


async def current_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The caller (401 without a valid key when keys are configured; 403 for a user key
    asking to act as someone else). Use as `who: Who` in a route."""
    headers = request.headers
    found = resolve_principal(
        server_state(request).settings.api_keys,
        authorization=headers.get("authorization"),
        api_key=headers.get("x-api-key"),
        act_as=headers.get(USER_HEADER),
    )
    request.state.principal = found
    return found


Who = Annotated[Principal, Depends(current_principal)]


async def require_admin(who: Who) -> Principal:
    if not who.admin:
        raise Forbidden("This needs an admin key.")
    return who


Admin = Annotated[Principal, Depends(require_admin)]


RouterFactory = Callable[[ServerState], APIRouter]


def check_state_keys(who: Principal, values: Mapping[str, Any] | None, field: str) -> None:
    """Only admins may write `app:` state (shared by every user of the agent)."""
    if not values or who.admin:
        return
    for key in values:
        if key.startswith("app:"):
            raise Forbidden(
                f"{key!r} is app-scoped state, shared by every user; only admin keys may "
                f"write it. Use a 'user:' or session key.",
                field=field,
            )
