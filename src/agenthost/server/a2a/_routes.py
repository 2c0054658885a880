"""The A2A routes: agent cards, the agent index, and one JSON-RPC endpoint per agent.

The JSON-RPC endpoint is a FastAPI route that checks the API key (our `Who` dependency: 401
without a valid key, like every route) and the agent (404), then hands the request to the
a2a-sdk's dispatcher (see `_service`). The SDK is imported on the first A2A request, in a
thread, so that creating an app stays cheap.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Path, Request
from starlette.responses import JSONResponse, Response

from agenthost.server.errors import ServiceUnavailable
from agenthost.server.state import ServerState, State, Who

if TYPE_CHECKING:
    from agenthost.server.a2a._service import A2AService

PREFIX = "/a2a"
CARD_PATH = "/.well-known/agent-card.json"  # a2a.utils.constants.AGENT_CARD_WELL_KNOWN_PATH
LEGACY_CARD_PATH = "/.well-known/agent.json"  # where A2A 0.2 clients look
CALLER_ATTRIBUTE = "agenthost_a2a_caller"

AgentName = Annotated[str, Path(description="The agent (GET /a2a lists them).")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def agent_url(base: str, name: str) -> str:
    """Where the agent answers JSON-RPC."""
    return f"{base}{PREFIX}/{quote(name, safe='')}/"


def card_url(base: str, name: str) -> str:
    return agent_url(base, name).rstrip("/") + CARD_PATH


def default_agent(state: ServerState) -> str:
    """The agent of the server's root card: the config's default agent, else the first."""
    config = state.config
    if config is not None:
        try:
            chosen: str | None = config.default_agent_name()
        except Exception:  # several agents and no default: the first one
            chosen = None
        if chosen in state.runners:
            assert chosen is not None
            return chosen
    if not state.runners:
        raise ServiceUnavailable("The server has no agents yet (it is starting).")
    return next(iter(state.runners))


MAX_JSON_DEPTH = 64  # the SDK's parser would hit Python's recursion limit on deeper bodies


def _depth(value: Any) -> int:
    depth = 0
    level = [value]
    while level:
        depth += 1
        nested: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nested.extend(item.values())
            elif isinstance(item, list):
                nested.extend(item)
        if depth > MAX_JSON_DEPTH:
            return depth
        level = [item for item in nested if isinstance(item, dict | list)]
    return depth


def _rpc_error(code: int, message: str, request_id: Any = None) -> Response:
    return JSONResponse(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    )


def check_jsonrpc_body(body: bytes) -> Response | None:
    """A JSON-RPC error for a body the SDK must not see: not UTF-8 or not JSON (-32700),
    nested deeper than MAX_JSON_DEPTH (-32600); None when the body may go on."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _rpc_error(-32700, f"Parse error: the body is not UTF-8 (byte {exc.start}).")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            return _rpc_error(-32600, f"Invalid Request: JSON nested deeper than {MAX_JSON_DEPTH}")
        return _rpc_error(-32700, f"Parse error: the body is not JSON (position {exc.pos}).")
    if _depth(value) > MAX_JSON_DEPTH:
        request_id = value.get("id") if isinstance(value, dict) else None
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
        return _rpc_error(
            -32600, f"Invalid Request: JSON nested deeper than {MAX_JSON_DEPTH}", request_id
        )
    return None


def _load() -> A2AService:
    module = importlib.import_module("agenthost.server.a2a._service")
    service: A2AService = module.A2AService(CALLER_ATTRIBUTE)
    return service


class _Service:
    """The SDK parts, loaded once, on first use, off the event loop."""

    def __init__(self) -> None:
        self._service: A2AService | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> A2AService:
        if self._service is not None:
            return self._service
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._service is None:
                self._service = await asyncio.to_thread(_load)
        return self._service


def build_router(state: ServerState) -> APIRouter:
    sdk = _Service()
    router = APIRouter(tags=["a2a"])

    async def card(state: ServerState, name: str, request: Request) -> Response:
        runner = state.runner(name)
        service = await sdk.get()
        body = service.card(
            name,
            runner,
            _base(request),
            auth=bool(state.settings.api_keys),
            agents=state.agent_names(),
        )
        return JSONResponse(body)

    @router.get(CARD_PATH, summary="The agent card of the default agent")
    async def root_card(request: Request, state: State) -> Response:
        return await card(state, default_agent(state), request)

    @router.get(LEGACY_CARD_PATH, include_in_schema=False)
    async def root_card_legacy(request: Request, state: State) -> Response:
        return await card(state, default_agent(state), request)

    @router.get(PREFIX, summary="The agents, each with its A2A endpoint and card")
    async def index(request: Request, who: Who, state: State) -> Response:
        base = _base(request)
        agents: list[dict[str, Any]] = [
            {
                "name": name,
                "description": runner.agent.manifest.description,
                "url": agent_url(base, name),
                "card_url": card_url(base, name),
            }
            for name, runner in state.runners.items()
        ]
        default = default_agent(state) if state.runners else None
        return JSONResponse({"default": default, "agents": agents})

    @router.get(PREFIX + "/{agent}" + CARD_PATH, summary="An agent's card")
    async def agent_card(request: Request, state: State, agent: AgentName) -> Response:
        return await card(state, agent, request)

    @router.get(PREFIX + "/{agent}" + LEGACY_CARD_PATH, include_in_schema=False)
    async def agent_card_legacy(request: Request, state: State, agent: AgentName) -> Response:
        return await card(state, agent, request)

    async def rpc(request: Request, who: Who, state: State, agent: AgentName) -> Response:
        state.runner(agent)  # 404 for an unknown agent
        if state.runs.closing:
            raise ServiceUnavailable("The server is shutting down; retry on another instance.")
        refusal = check_jsonrpc_body(await request.body())
        if refusal is not None:
            return refusal
        service = await sdk.get()
        return await service.handle(request, state=state, agent=agent, principal=who)

    summary = "A2A JSON-RPC: SendMessage, SendStreamingMessage, GetTask, CancelTask, ..."
    router.add_api_route(PREFIX + "/{agent}/", rpc, methods=["POST"], summary=summary)
    router.add_api_route(
        PREFIX + "/{agent}", rpc, methods=["POST"], include_in_schema=False, name="rpc_no_slash"
    )
    return router
