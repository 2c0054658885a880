"""The agents as MCP tools: `POST /mcp` speaks MCP over streamable HTTP, so Claude Desktop,
Cursor or any MCP client can call the agents this server hosts.

Each agent is one tool, named as the agent, taking `message` (required) and `session_id`
(optional: continue that session; left out, a new one is made). The result's text is the
agent's final answer; its structured content carries `session_id`, `run_id`, `status` and
`output`, and a run that did not complete is an `isError` result with its error.

Callers authenticate as on every other route (`Authorization: Bearer KEY` or `X-API-Key`),
and a run belongs to the key's user exactly as a native run does: a user reaches only its
own sessions. The session manager is stateless (each HTTP request is authenticated on its own,
so no MCP session can be taken over by another key). Served only with the `mcp` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agenthost.core.errors import AgentHostError, InvalidArgument, RunNotFound
from agenthost.core.ids import new_session_id
from agenthost.core.messages import Message
from agenthost.server.auth import USER_HEADER, Principal, resolve_principal
from agenthost.server.errors import ServiceUnavailable, encode_error
from agenthost.server.native import run_answer
from agenthost.server.runs import RunRequest
from agenthost.server.state import ServerState

log = logging.getLogger("agenthost.server.mcp")

PATH = "/mcp"
_PRINCIPAL = "agenthost_principal"
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_.-]")

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "The message to the agent."},
        "session_id": {
            "type": "string",
            "description": "Continue this session (from an earlier result); leave out to "
            "start a new one.",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}


def router(state: ServerState) -> APIRouter:
    """`/mcp` with the session manager in the router's lifespan (an empty router without
    the mcp extra)."""
    try:
        from mcp.server.lowlevel import Server
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings
    except ImportError:  # the mcp extra is not installed
        return APIRouter()
    agents = _AgentTools(state)
    server: Any = Server(
        "agenthost",
        instructions="Each tool is an agent: send it a message, get its answer.",
        on_list_tools=agents.list_tools,
        on_call_tool=agents.call_tool,
    )
    endpoint = _Endpoint(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # a manager runs once: each start of the app gets its own
        manager = StreamableHTTPSessionManager(
            server,
            stateless=True,
            # the app's own guard checks Host (and the loopback client without keys)
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with _running(manager):
            endpoint.manager = manager
            try:
                yield
            finally:
                endpoint.manager = None

    return APIRouter(routes=[Route(PATH, endpoint=endpoint)], lifespan=lifespan)


@asynccontextmanager
async def _running(manager: Any) -> AsyncIterator[None]:
    """The session manager's `run()` in a task of its own: its anyio task group is entered and
    left in that task, whichever tasks start and stop the app's lifespan."""
    up, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with manager.run():
            up.set()
            await stop.wait()

    task = asyncio.create_task(serve(), name="agenthost mcp sessions")
    started = asyncio.create_task(up.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if not up.is_set():
        started.cancel()
        await task  # raises what stopped it
    try:
        yield
    finally:
        stop.set()
        await task


class _Endpoint:
    """ASGI: authenticate the caller like every route does, then hand over to the manager."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self.manager: Any = None  # set while the app runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            principal = resolve_principal(
                self._state.settings.api_keys,
                authorization=headers.get("authorization"),
                api_key=headers.get("x-api-key"),
                act_as=headers.get(USER_HEADER),
            )
        except AgentHostError as exc:
            await _error(exc, send)
            return
        if self.manager is None:
            await _error(ServiceUnavailable("The server is not running; retry shortly."), send)
            return
        scope.setdefault("state", {})[_PRINCIPAL] = principal
        await self.manager.handle_request(scope, receive, send)


async def _error(exc: AgentHostError, send: Send) -> None:
    status, body = encode_error(exc)
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def tool_name(agent: str) -> str:
    """An agent's MCP tool name (MCP allows letters, digits, '_', '-' and '.')."""
    return _TOOL_NAME.sub("_", agent)[:128]


class _AgentTools:
    def __init__(self, state: ServerState) -> None:
        self._state = state

    def _agents(self) -> dict[str, str]:
        return {tool_name(name): name for name in self._state.runners}

    async def list_tools(self, ctx: Any, params: Any) -> Any:
        from mcp import types

        tools = []
        for tool, agent in self._agents().items():
            manifest = self._state.runners[agent].agent.manifest
            tools.append(
                types.Tool(
                    name=tool,
                    title=manifest.name,
                    description=manifest.description or f"The agent {agent!r}.",
                    input_schema=INPUT_SCHEMA,
                )
            )
        return types.ListToolsResult(tools=tools)

    async def call_tool(self, ctx: Any, params: Any) -> Any:
        from mcp import types

        principal: Principal = ctx.request.scope["state"][_PRINCIPAL]
        arguments = dict(params.arguments or {})
        try:
            answer = await self._run(principal, str(params.name), arguments)
        except AgentHostError as exc:
            return types.CallToolResult(
                content=[types.TextContent(text=f"error: {exc.message}")], is_error=True
            )
        text = answer["output"] or ""
        failed = answer["status"] != "completed"
        if failed:
            error = answer.get("error") or {}
            text = f"error: {error.get('message') or answer['status']}" + (
                f"\n{text}" if text else ""
            )
        structured = orjson.loads(
            orjson.dumps({k: answer[k] for k in ("session_id", "run_id", "status", "output")})
        )
        return types.CallToolResult(
            content=[types.TextContent(text=text)],
            structured_content=structured,
            is_error=failed,
        )

    async def _run(self, who: Principal, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        agent = self._agents().get(tool)
        if agent is None:
            raise InvalidArgument(
                "name", f"no agent tool {tool!r}; the tools: {', '.join(self._agents())}"
            )
        message, session_id = arguments.get("message"), arguments.get("session_id")
        if not isinstance(message, str) or not message.strip():
            raise InvalidArgument("message", "must be a non-empty string")
        if session_id is not None and not isinstance(session_id, str):
            raise InvalidArgument("session_id", "must be a string (from an earlier result)")
        runner = self._state.runner(agent)
        new = session_id is None  # made here: the runner creates it without a get first
        if session_id is None:
            session_id = new_session_id()
        else:
            await runner.get_session(who.user_id, session_id)  # not found: this user's only
        request = RunRequest(
            agent=agent,
            user_id=who.user_id,
            session_id=session_id,
            message=Message.user(message),
            api="mcp",
            new_session=new,
        )
        channel = await self._state.runs.start(request, runner)
        try:
            return await run_answer(channel, runner)
        except asyncio.CancelledError:  # the MCP client cancelled the call: stop the run
            with contextlib.suppress(RunNotFound):  # it has just ended
                runner.cancel(request.run_id, "cancelled by the MCP client")
            raise
