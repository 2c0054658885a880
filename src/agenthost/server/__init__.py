"""The HTTP server: `create_app()` for embedding, `agenthost serve` on the command line.

Needs the `server` extra (`pip install 'agenthost[server]'`: FastAPI, uvicorn,
prometheus-client). Names are exported lazily. See docs/server.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.server._http_limits import limited_protocol
    from agenthost.server.app import create_app, register_router, registered_routers
    from agenthost.server.auth import ApiKeys, Principal, check_bind, hash_key
    from agenthost.server.banner import startup_banner
    from agenthost.server.runs import RunRequest
    from agenthost.server.state import ServerSettings, ServerState

_LAZY = {
    "create_app": "app",
    "register_router": "app",
    "registered_routers": "app",
    "ApiKeys": "auth",
    "Principal": "auth",
    "check_bind": "auth",
    "hash_key": "auth",
    "limited_protocol": "_http_limits",
    "startup_banner": "banner",
    "RunRequest": "runs",
    "ServerSettings": "state",
    "ServerState": "state",
}

__all__ = [
    "ApiKeys",
    "Principal",
    "RunRequest",
    "ServerSettings",
    "ServerState",
    "check_bind",
    "create_app",
    "hash_key",
    "limited_protocol",
    "register_router",
    "registered_routers",
    "startup_banner",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        loaded = importlib.import_module(f"agenthost.server.{module}")
    except ModuleNotFoundError as exc:
        if exc.name in ("fastapi", "starlette", "uvicorn", "prometheus_client"):
            from agenthost.core.errors import MissingExtraError

            raise MissingExtraError("The HTTP server", "server", exc.name) from exc
        raise
    return getattr(loaded, name)
