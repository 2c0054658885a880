"""The a2a-sdk parts of the A2A routes, imported on the first A2A request (importing the
SDK's server package takes a few hundred milliseconds, which an app that never serves A2A
should not pay at start-up).

The JSON-RPC endpoint hands the request to the SDK's `JsonRpcDispatcher`, which parses JSON-RPC
for A2A 1.0 (`SendMessage`, ...; clients send the `A2A-Version: 1.0` header) and 0.3
(`message/send`, ...; no header), calls our request handler and answers JSON or SSE.
"""

from __future__ import annotations

from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.routes import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from starlette.requests import Request
from starlette.responses import Response

from agenthost.engine.runner import Runner
from agenthost.server.a2a._card import build_card, card_json
from agenthost.server.a2a._handler import CALLER, AgentHostRequestHandler, Caller
from agenthost.server.auth import Principal
from agenthost.server.state import ServerState


class _ContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's call context (headers, for the version check), plus our caller."""

    def __init__(self, caller_key: str) -> None:
        self._key = caller_key

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[CALLER] = getattr(request.state, self._key)
        return context


class A2AService:
    """One request handler (and its task index) and dispatcher for all agents of an app."""

    def __init__(self, caller_key: str) -> None:
        self.caller_key = caller_key
        self.handler = AgentHostRequestHandler()
        self.dispatcher = JsonRpcDispatcher(
            request_handler=self.handler,
            context_builder=_ContextBuilder(caller_key),
            enable_v0_3_compat=True,
        )

    async def handle(
        self, request: Request, *, state: ServerState, agent: str, principal: Principal
    ) -> Response:
        caller = Caller(state=state, agent=agent, principal=principal)
        setattr(request.state, self.caller_key, caller)
        return await self.dispatcher.handle_requests(request)

    @staticmethod
    def card(
        name: str, runner: Runner, base: str, *, auth: bool, agents: list[str]
    ) -> dict[str, Any]:
        return card_json(build_card(name, runner, base, auth=auth, agents=agents))
