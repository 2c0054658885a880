"""AG-UI: every agent of the server over the AG-UI protocol (https://docs.ag-ui.com).

    POST /agui/{agent}      body: RunAgentInput (threadId, runId, messages, tools, context,
                            state, forwardedProps, resume); answer: AG-UI events over SSE

The `@ag-ui/client` HttpAgent (and any AG-UI client) talks to it unchanged. How a request
maps onto a run:

- `threadId` is the session id (a new one starts a session: looked up once here, then the
  run creates it with the message in one store call); the session belongs to the key's
  user, like every session of the server.
- The run's message is the LAST message of `messages`, which must be the user's. The earlier
  ones are not read: the session already holds the conversation, and the stream starts with
  a MESSAGES_SNAPSHOT of it (the session's messages, then this one), so the client's list is
  the server's. A new thread therefore starts from that one message.
- `runId` is the client's: every RUN_* event carries it. Our run id (for the native API's
  status, events and cancel routes) is in RUN_STARTED's `metadata.agenthost.run_id` and in
  the `X-Run-Id` header.
- `state` (an object) is the session's state as the client has it: the keys whose value
  differs from the session's are written (a `state_delta`; `app:` keys need an admin key).
  The stream starts with a STATE_SNAPSHOT and sends STATE_DELTA (JSON Patch) as it changes.
- `tools` (tools the front end would run) are not offered to the agent; `context` and
  `forwardedProps` reach it in the run's config (`config["agui"]`).
- A run paused for approvals ends with RUN_FINISHED whose outcome is `interrupt` (one per
  approval: its `id` is the approval id, `toolCallId` the call). Answer with a new request
  on the thread whose `resume` holds one entry `{interruptId, status: "resolved", payload:
  {approve, arguments?, message?}}` (`status: "cancelled"` rejects); `messages` may be empty.

Refusals before a run starts (a bad body, a budget or rate limit, an unknown agent) are the
server's JSON errors with their HTTP status, as on every route; once the stream has started,
a failure is a RUN_ERROR event. Needs the `ag-ui-protocol` package (in the `server` extra);
without it the router serves nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from starlette.responses import Response

from agenthost.core.approvals import ApprovalAnswer
from agenthost.core.errors import InvalidArgument, SessionNotFound
from agenthost.core.messages import ImagePart, Message, Part, TextPart
from agenthost.core.session import Session
from agenthost.server.auth import Principal
from agenthost.server.runs import RunChannel, RunRequest, follow_batches
from agenthost.server.schemas import SESSION_ID_PATTERN
from agenthost.server.sse import PING, SSEResponse
from agenthost.server.state import ServerState, State, Who, check_state_keys

log = logging.getLogger("agenthost.server.agui")

AgentName = Annotated[str, Path(description="The agent (GET /v1/apps lists them).")]


def available() -> bool:
    return importlib.util.find_spec("ag_ui") is not None


def _parse(body: Any) -> Any:
    """The body as the protocol's RunAgentInput (InvalidArgument naming the field if not)."""
    from ag_ui.core import RunAgentInput
    from pydantic import ValidationError

    try:
        return RunAgentInput.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        raise InvalidArgument(where, f"{error['msg']} (an AG-UI RunAgentInput)") from exc


def _user_message(messages: list[Any]) -> Message:
    """The last message, which must be the user's, as our message."""
    if not messages:
        raise InvalidArgument("messages", "is empty: send the user's message (or `resume`)")
    last = messages[-1]
    where = f"messages.{len(messages) - 1}"
    if getattr(last, "role", None) != "user":
        raise InvalidArgument(
            f"{where}.role",
            f"the last message must be the user's, got {getattr(last, 'role', None)!r} (tool "
            f"results of front-end tools are not taken: the agent runs its own tools)",
        )
    content = last.content
    if isinstance(content, str):
        if not content:
            raise InvalidArgument(f"{where}.content", "is empty")
        return Message.user(content)
    parts: list[Part] = []
    for index, part in enumerate(content):
        kind = getattr(part, "type", None)
        if kind == "text" and part.text:
            parts.append(TextPart(text=part.text))
        elif kind == "image" and getattr(part.source, "type", None) == "url":
            parts.append(ImagePart(url=part.source.value))
        else:
            raise InvalidArgument(
                f"{where}.content.{index}", f"a {kind!r} part is not taken (text, image by url)"
            )
    if not parts:
        raise InvalidArgument(f"{where}.content", "is empty")
    return Message(role="user", parts=tuple(parts))


def _answer(resume: list[Any]) -> ApprovalAnswer:
    if len(resume) != 1:
        raise InvalidArgument(
            "resume", f"answer one interrupt per request, got {len(resume)} (send the others next)"
        )
    entry = resume[0]
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    approve = entry.status == "resolved" and payload.get("approve", True) is True
    arguments = payload.get("arguments")
    note = payload.get("message")
    if arguments is not None and not isinstance(arguments, dict):
        raise InvalidArgument("resume.0.payload.arguments", "must be an object")
    if note is not None and not isinstance(note, str):
        raise InvalidArgument("resume.0.payload.message", "must be a string")
    return ApprovalAnswer(
        approval_id=entry.interrupt_id,
        approve=approve,
        arguments=arguments if approve else None,
        message=note,
    )


def _state_delta(session: Session | None, state: Any) -> dict[str, Any] | None:
    if not isinstance(state, dict):
        return None
    current = session.state if session is not None else {}
    delta = {k: v for k, v in state.items() if current.get(k) != v and not k.startswith("temp:")}
    return delta or None


def _validated_thread(thread_id: str) -> str:
    if not re.fullmatch(SESSION_ID_PATTERN, thread_id):
        raise InvalidArgument(
            "threadId", "must be 1-256 letters, digits or . _ : @ + = - (it is the session id)"
        )
    return thread_id


async def run_agui(state: ServerState, who: Principal, agent: str, body: Any) -> Response:
    from agenthost.server._agui_events import AguiMapper, agui_messages

    runner = state.runner(agent)
    data = _parse(body)
    thread = _validated_thread(data.thread_id)
    message: Message | ApprovalAnswer
    message = _answer(data.resume) if data.resume else _user_message(data.messages)
    try:
        session: Session | None = await runner.get_session(who.user_id, thread)
    except SessionNotFound:
        session = None
    delta = _state_delta(session, data.state)
    check_state_keys(who, delta, "state")
    # copies: a store may hand out its cached session, which the run updates in place
    prior = list(session.events) if session is not None else []
    start_state = dict(session.state) if session is not None else {}
    start_state.update(delta or {})
    config: dict[str, Any] = {}
    if data.context or data.forwarded_props is not None:
        config["agui"] = {
            "context": [c.model_dump() for c in data.context or []],
            "forwarded_props": data.forwarded_props,
        }
    request = RunRequest(
        agent=agent,
        user_id=who.user_id,
        session_id=thread,
        message=message,
        api="agui",
        state_delta=delta,
        config=config or None,
        # not found just now: the run creates it with the message in one store call, no
        # second `get` (should another request make it meanwhile, the run goes on in it)
        new_session=session is None,
    )
    channel = await state.runs.start(request, runner)
    history = agui_messages(prior)
    if isinstance(message, Message):
        from ag_ui.core import UserMessage

        # its own id (see agui_messages): the client's would keep the client's place
        history.append(UserMessage(id=f"in_{request.run_id}", content=message.text))
    mapper = AguiMapper(thread, data.run_id, start_state)
    frames = _frames(state, channel, mapper, history)
    headers = {"X-Run-Id": request.run_id, "X-Session-Id": thread}
    policy = state.settings.on_disconnect
    return SSEResponse(frames, headers=headers, on_left=state.runs.on_left(channel, policy))


async def _frames(
    state: ServerState, channel: RunChannel, mapper: Any, history: list[Any]
) -> AsyncGenerator[bytes, None]:
    request = channel.request
    yield mapper.start(request.run_id, request.session_id, history)
    batches = follow_batches(
        channel,
        runner=channel.runner,
        user_id=request.user_id,
        session_id=request.session_id,
        run_id=request.run_id,
        ping=state.settings.ping_interval,
    )
    async with aclosing(batches):
        async for batch in batches:
            if batch is None:
                yield PING
                continue
            out = b"".join(mapper.frames(frame.event) for frame in batch)
            if out:
                yield out  # the frames there are, in one write
            if mapper.finished:
                return


def router(state: ServerState) -> APIRouter:
    """`POST /agui/{agent}` (an empty router, and a log line, without `ag-ui-protocol`)."""
    api = APIRouter(tags=["ag-ui"])
    if not available():
        log.info("AG-UI is not served: pip install 'agenthost[server]' (ag-ui-protocol)")
        return api

    @api.post("/agui/{agent}", summary="Run the agent over AG-UI (RunAgentInput in, SSE out)")
    async def agui_run(
        who: Who,
        state: State,
        agent: AgentName,
        body: Annotated[dict[str, Any], Body(description="An AG-UI RunAgentInput.")],
    ) -> Response:
        return await run_agui(state, who, agent, body)

    return api
