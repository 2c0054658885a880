"""A2A (Agent2Agent): every agent of the server as an A2A agent, over the official `a2a-sdk`.

Needs the `a2a` extra (`pip install 'agenthost[a2a]'`); without it the `a2a` router serves
nothing. Routes (see docs/server.md, "A2A"):

    GET  /.well-known/agent-card.json         the card of the default agent
    GET  /.well-known/agent.json              the same (the A2A 0.2 path)
    GET  /a2a                                 the agents: name, endpoint, card URL
    GET  /a2a/{agent}/.well-known/agent-card.json   an agent's card
    POST /a2a/{agent}/                        JSON-RPC: A2A 1.0 (SendMessage,
                                              SendStreamingMessage, GetTask, CancelTask,
                                              SubscribeToTask) and 0.3 (message/send,
                                              message/stream, tasks/get, tasks/cancel,
                                              tasks/resubscribe)

A task is a run (task id = run id) in a session (context id = session id). Auth and
isolation are the server's: `Authorization: Bearer <key>` (or `X-API-Key`), and a task is
found only by the user who started it. The mapping of events is in `_convert`, the methods in
`_handler`.
"""

from __future__ import annotations

import importlib.util
import logging

from fastapi import APIRouter

from agenthost.server.state import ServerState

log = logging.getLogger("agenthost.server.a2a")


def available() -> bool:
    """True when the a2a-sdk (with its HTTP server parts) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("a2a", "sse_starlette"))


def router(state: ServerState) -> APIRouter:
    """The A2A routes (an empty router, and a log line, when the a2a extra is missing)."""
    if not available():
        log.info("A2A is not served: pip install 'agenthost[a2a]' to serve it")
        return APIRouter()
    from agenthost.server.a2a._routes import build_router

    return build_router(state)


__all__ = ["available", "router"]
