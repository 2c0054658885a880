"""`GET /v1/usage`: what your runs used and cost, by user, agent or day (UTC).

    GET /v1/usage?by=day&since=2025-11-01&until=2025-12-01&agent=helper

A user key sees its own user's runs; an admin key sees every user's (or one: `user=`; in
local development mode the caller is the admin `local`). The rows come from the usage store
(docs/pricing.md); a server that keeps no usage answers 404 `usage_not_kept`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from agenthost.core.errors import UserError
from agenthost.engine.usage_report import GroupBy, parse_day, summarize
from agenthost.ports.usage import UsageQuery, UsageStore
from agenthost.server.errors import AgentNotFound, Forbidden
from agenthost.server.native import json_response
from agenthost.server.state import ServerState, State, Who


class UsageNotKept(UserError):
    code = "usage_not_kept"

    def __init__(self) -> None:
        super().__init__(
            "This server keeps no usage records: its store has no usage store and no usage.url "
            "is set (see docs/pricing.md)."
        )


def usage_store(state: ServerState) -> UsageStore | None:
    for runner in state.runners.values():
        meter = runner.meter
        if meter is not None and meter.usage is not None:
            return meter.usage
    return None


api = APIRouter(tags=["usage"])


@api.get("/v1/usage", summary="What runs used and cost, by user, agent or day")
async def get_usage(
    who: Who,
    state: State,
    by: Annotated[GroupBy, Query(description="Group by user, agent or day (UTC).")] = "day",
    since: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")] = None,
    until: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD, excluded")] = None,
    agent: Annotated[str | None, Query(max_length=256)] = None,
    user: Annotated[str | None, Query(max_length=128, description="Admin keys only.")] = None,
) -> Response:
    store = usage_store(state)
    if store is None:
        raise UsageNotKept()
    if user is not None and not who.admin and user != who.user_id:
        raise Forbidden("Only admin keys may read another user's usage.", field="user")
    user_id = user if user is not None else (None if who.admin else who.user_id)
    app = None
    if agent is not None:
        app = state.runner(agent).app if agent in state.runners else None
        if app is None:
            raise AgentNotFound(agent, state.agent_names())
    query = UsageQuery(
        app=app,
        user_id=user_id,
        since=parse_day(since) if since else None,
        until=parse_day(until, field="until") if until else None,
    )
    records = [r for r in await store.records(query) if r.app in _apps(state)]
    rows = summarize(records, by)
    total = sum(r.cost for r in rows)
    return json_response({"by": by, "rows": rows, "total_cost": total, "runs": len(records)})


def _apps(state: ServerState) -> set[str]:
    return {runner.app for runner in state.runners.values()}


def router(state: ServerState) -> APIRouter:
    return api
