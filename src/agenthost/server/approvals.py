"""Approvals over the native API: the tool calls waiting for your answer, and answering one.

    GET  /v1/apps/{agent}/approvals                 your pending approvals (?session_id=...)
    POST /v1/apps/{agent}/approvals/{approval_id}   answer one: {approve, arguments?, message?}

An answer starts the run that goes on in the approval's session (engine/approval.py), driven
and streamed exactly as a run started with `POST .../runs` (SSE frames, or one JSON object
with `"stream": false`; headers X-Run-Id and X-Session-Id). A refused answer stores nothing:
404 `approval_not_found`, 403 `approval_forbidden` (another user's), 409
`approval_already_answered` or `approval_run_finished`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.responses import Response

from agenthost.core.approvals import ApprovalAnswer
from agenthost.server.native import AgentName, json_response, run_response
from agenthost.server.runs import RunRequest
from agenthost.server.schemas import SESSION_ID_PATTERN, _Strict
from agenthost.server.state import ServerState, State, Who

ApprovalPath = Annotated[
    str, Path(max_length=256, description="An approval id (data.approval_id of the event).")
]


class ApprovalBody(_Strict):
    approve: Annotated[bool, Field(description="true runs the call; false rejects it.")]
    arguments: Annotated[
        dict[str, Any] | None,
        Field(description="Approving only: the call's arguments, edited (default: the model's)."),
    ] = None
    message: Annotated[
        str | None, Field(max_length=10_000, description="A note the model reads (why, say).")
    ] = None
    stream: Annotated[bool, Field(description="SSE events (true) or one JSON answer (false).")] = (
        True
    )
    on_disconnect: Literal["continue", "cancel"] | None = None
    timeout: Annotated[
        float | None, Field(gt=0, le=86_400, description="Run deadline, seconds.")
    ] = None


api = APIRouter(prefix="/v1/apps", tags=["native"])


@api.get("/{agent}/approvals", summary="Your tool calls waiting for an answer")
async def list_approvals(
    who: Who,
    state: State,
    agent: AgentName,
    session_id: Annotated[
        str | None, Query(pattern=SESSION_ID_PATTERN, description="Only this session's.")
    ] = None,
) -> Response:
    runner = state.runner(agent)
    if session_id is not None:
        await runner.get_session(who.user_id, session_id)  # 404 for another's session
    pending = await runner.pending_approvals(who.user_id, session_id)
    return json_response({"approvals": [msgspec.to_builtins(p) for p in pending]})


@api.post("/{agent}/approvals/{approval_id}", summary="Approve or reject a tool call")
async def answer_approval(
    who: Who, state: State, agent: AgentName, approval_id: ApprovalPath, body: ApprovalBody
) -> Response:
    runner = state.runner(agent)
    where = await runner.locate_approval(who.user_id, approval_id)
    request = RunRequest(
        agent=agent,
        user_id=who.user_id,
        session_id=where.session_id,
        message=ApprovalAnswer(
            approval_id=approval_id,
            approve=body.approve,
            arguments=body.arguments,
            message=body.message,
        ),
        api="native",
        timeout=body.timeout,
    )
    channel = await state.runs.start(request, runner)
    return await run_response(
        state, channel, runner, stream=body.stream, on_disconnect=body.on_disconnect
    )


def router(state: ServerState) -> APIRouter:
    return api
