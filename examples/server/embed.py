"""agenthost inside your own FastAPI app: hooks, a custom route, your own uvicorn.

AGENTHOST_API_KEYS="dev-key-0123456789:me" uvicorn embed:app --app-dir examples/server
"""

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from agenthost import RunRequest, ServerState, Who, create_app, load_config

finished: list[str] = []


def before_run(request: RunRequest) -> None:
    """Runs before every run; raising an agenthost error refuses it with a 4xx."""
    print(f"run {request.run_id} for {request.user_id} on {request.agent} ({request.api})")


def after_run(request: RunRequest, terminal: Any) -> None:
    finished.append(terminal.type if terminal is not None else "not started")


async def on_startup(state: ServerState) -> None:
    print("agents:", ", ".join(state.agent_names()))


def my_routes(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.get("/hello")
    async def hello(who: Who) -> dict[str, Any]:
        return {"hello": who.user_id, "agents": state.agent_names()}

    return router


app = create_app(
    load_config(Path(__file__).with_name("agenthost.yaml")),
    on_startup=[on_startup],
    before_run=[before_run],
    after_run=[after_run],
    extra_routers=[my_routes],
)
