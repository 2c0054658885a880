"""The native API: agents, sessions, runs and their events, per user.

    GET    /v1/apps                                          the agents
    GET    /v1/apps/{agent}/sessions                         your sessions, newest first, each
                                                              titled by its first message
    POST   /v1/apps/{agent}/sessions                         create one {session_id?, state?}
    GET    /v1/apps/{agent}/sessions/{sid}                   one, with its state and runs
    DELETE /v1/apps/{agent}/sessions/{sid}                   delete it (409 while a run is going)
    GET    /v1/apps/{agent}/sessions/{sid}/events            its events: ?after=SEQ&limit=N
    POST   /v1/apps/{agent}/runs                             run in a new session
    POST   /v1/apps/{agent}/sessions/{sid}/runs              run in this session
    GET    /v1/apps/{agent}/sessions/{sid}/runs/{rid}        a run's status
    GET    /v1/apps/{agent}/sessions/{sid}/runs/{rid}/events a run's events again (SSE;
                                                              Last-Event-ID to resume)
    POST   /v1/apps/{agent}/sessions/{sid}/runs/{rid}/cancel cancel it

A run streams SSE frames (`id:`, `event:` = the event type, `data:` = the event as JSON) and
ends with `run.completed` or `run.failed` (after an `error` frame); with `"stream": false` it
answers one JSON object when the run has ended. Everything is the caller's own: another
user's session or run is simply not found.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from starlette.responses import Response

from agenthost.core import serde
from agenthost.core.errors import InvalidArgument, RunNotFound, SessionBusy, SessionNotFound
from agenthost.core.events import TERMINAL_TYPES, summarize_runs
from agenthost.core.ids import new_session_id
from agenthost.core.session import SessionInfo, SessionKey
from agenthost.engine.runner import Runner, final_text
from agenthost.server.auth import Principal
from agenthost.server.cluster import (
    cluster_batches,
    cluster_of,
    owns,
    stored_request,
    submit_background,
)
from agenthost.server.errors import RunFinished
from agenthost.server.runs import (
    Frame,
    OnDisconnect,
    Position,
    RunChannel,
    RunRequest,
    error_position,
    follow,
    follow_batches,
    format_position,
    parse_event_id,
    run_status,
    stored_frames,
)
from agenthost.server.schemas import SESSION_ID_PATTERN, CreateSession, RunBody, run_message
from agenthost.server.sse import PING, LastChunk, SSEResponse, error_frame, position_frame
from agenthost.server.state import ServerState, State, Who, check_state_keys

log = logging.getLogger("agenthost.server.native")

AgentName = Annotated[str, Path(description="The agent (GET /v1/apps lists them).")]
SessionPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="A session id.")]
RunPath = Annotated[str, Path(max_length=256, description="A run id (X-Run-Id, run_id).")]


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """msgspec-encoded JSON (events, sessions and usage are msgspec Structs)."""
    return Response(
        serde.encode(value), status_code=status, media_type="application/json", headers=headers
    )


def owned_channel(
    state: ServerState, who: Principal, agent: str, session_id: str, run_id: str
) -> RunChannel | None:
    """The active run's channel, only if it is this user's, in this agent and session."""
    channel = state.runs.get(run_id)
    if channel is None:
        return None
    request = channel.request
    if (request.agent, request.user_id, request.session_id) != (agent, who.user_id, session_id):
        return None
    return channel


async def event_frames(
    state: ServerState,
    channel: RunChannel | None,
    *,
    runner: Runner,
    user_id: str,
    session_id: str,
    run_id: str,
    after: Position | None,
    batches: AsyncGenerator[list[Frame] | None, None] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The SSE frames of a run: its events after `after`, an `error` frame (its own id, see
    `error_position`) before `run.failed`, and keep-alive comments while nothing happens.
    `batches`: where the frames come from (default: this server's channel, else the store)."""
    if batches is None:
        batches = follow_batches(
            channel,
            runner=runner,
            user_id=user_id,
            session_id=session_id,
            run_id=run_id,
            after=after,
            ping=state.settings.ping_interval,
        )
    try:  # what `aclosing` does, without its two coroutine calls a stream
        async for batch in batches:
            if batch is None:
                yield PING
                continue
            out: list[bytes] = []
            for frame in batch:
                event = frame.event
                if event.type == "run.failed":
                    slot = error_position(frame.pos)
                    if after is None or slot > after:
                        out.append(error_frame(format_position(slot), event))
                seq, k = frame.pos
                out.append(position_frame(seq, k, event))
            if batch[-1].event.type in TERMINAL_TYPES:  # the last frames: with the body's end
                yield LastChunk(b"".join(out))
            else:
                yield b"".join(out)  # the frames there are, in one write
    finally:
        await batches.aclose()


api = APIRouter(prefix="/v1/apps", tags=["native"])


@api.get("", summary="The agents of this server")
async def list_apps(who: Who, state: State) -> Response:
    apps = [
        {
            "name": name,
            "description": getattr(runner.agent.manifest, "description", ""),
        }
        for name, runner in state.runners.items()
    ]
    return json_response({"apps": apps})


TITLE_LENGTH = 80  # characters of the first message a session's title shows
TITLED_SESSIONS = 100  # the newest sessions of a listing get a title; older ones null
_TITLE_CACHE = 10_000


async def session_titles(
    state: ServerState, runner: Runner, infos: list[SessionInfo]
) -> dict[str, str | None]:
    """A title per session: the start of its first message (null before there is one). The
    first message never changes, so titles are cached, by session and its `created_at` (a
    session deleted and made again under the same id is another session)."""
    cache = _title_cache(state)
    titles: dict[str, str | None] = {}
    for info in infos[:TITLED_SESSIONS]:
        key = (info.app, info.user_id, info.id)
        created, title = cache.get(key, (None, None))
        if created != info.created_at or title is None:
            session = await runner.store.get(SessionKey(*key))
            title = _first_message(session.events) if session is not None else None
            if title is not None:
                if len(cache) >= _TITLE_CACHE:
                    cache.clear()
                cache[key] = (info.created_at, title)
        titles[info.id] = title
    return titles


def _title_cache(state: ServerState) -> dict[tuple[str, str, str], tuple[float, str]]:
    cache: dict[tuple[str, str, str], tuple[float, str]]
    cache = state.extras.setdefault("session_titles", {})
    return cache


def _first_message(events: Any) -> str | None:
    for event in events:
        if event.type == "message.received" and event.message is not None:
            text = " ".join(event.message.text.split())
            if text:
                return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"
    return None


@api.get("/{agent}/sessions", summary="Your sessions, newest first")
async def list_sessions(who: Who, state: State, agent: AgentName) -> Response:
    runner = state.runner(agent)
    infos = await runner.list_sessions(who.user_id)
    titles = await session_titles(state, runner, infos)
    sessions = [
        {
            "id": info.id,
            "agent": agent,
            "user_id": info.user_id,
            "title": titles.get(info.id),
            "created_at": info.created_at,
            "updated_at": info.updated_at,
            "event_count": info.event_count,
        }
        for info in infos
    ]
    return json_response({"sessions": sessions})


@api.post("/{agent}/sessions", status_code=201, summary="Create a session")
async def create_session(
    who: Who, state: State, agent: AgentName, body: CreateSession | None = None
) -> Response:
    runner = state.runner(agent)
    body = body or CreateSession()
    check_state_keys(who, body.state, "state")
    session_id = body.session_id or new_session_id()
    key = SessionKey(runner.app, who.user_id, session_id)
    session = await runner.store.create(key, state=body.state)
    return json_response(_session_body(agent, session.id, who.user_id, session), status=201)


@api.get("/{agent}/sessions/{session_id}", summary="A session: state and runs")
async def get_session(
    who: Who, state: State, agent: AgentName, session_id: SessionPath
) -> Response:
    runner = state.runner(agent)
    session = await runner.get_session(who.user_id, session_id)
    return json_response(_session_body(agent, session_id, who.user_id, session))


@api.delete("/{agent}/sessions/{session_id}", status_code=204, summary="Delete a session")
async def delete_session(
    who: Who, state: State, agent: AgentName, session_id: SessionPath
) -> Response:
    runner = state.runner(agent)
    for channel in state.runs.active():
        request = channel.request
        if (request.agent, request.user_id, request.session_id) == (
            agent,
            who.user_id,
            session_id,
        ):
            raise SessionBusy(session_id, channel.run_id)
    await runner.delete_session(who.user_id, session_id)
    _title_cache(state).pop((runner.app, who.user_id, session_id), None)
    return Response(status_code=204)


@api.get("/{agent}/sessions/{session_id}/events", summary="A page of a session's events")
async def list_events(
    who: Who,
    state: State,
    agent: AgentName,
    session_id: SessionPath,
    after: Annotated[int, Query(ge=0, description="Events with seq > after.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    runner = state.runner(agent)
    session = await runner.get_session(who.user_id, session_id)
    events = session.events
    start = bisect.bisect_right(events, after, key=lambda e: e.seq)
    page = events[start : start + limit]
    return json_response(
        {
            "events": page,
            "has_more": start + limit < len(events),
            "next_after": page[-1].seq if page else after,
        }
    )


async def start_run(
    state: ServerState, who: Principal, agent: str, session_id: str, body: RunBody, *, new: bool
) -> Response:
    runner = state.runner(agent)
    message = run_message(body)
    check_state_keys(who, body.state_delta, "state_delta")
    if not new:
        await runner.get_session(who.user_id, session_id)  # 404 before anything is stored
    request = RunRequest(
        agent=agent,
        user_id=who.user_id,
        session_id=session_id,
        message=message,
        api="native",
        timeout=body.timeout,
        state_delta=body.state_delta,
        config=body.config,
        busy_policy=body.busy_policy,
        new_session=new,
    )
    if body.background:
        headers = {"X-Run-Id": request.run_id, "X-Session-Id": session_id}
        await _background(state, request, runner)
        return json_response(_queued(request, agent), status=202, headers=headers)
    channel = await state.runs.start(request, runner)
    return await run_response(
        state, channel, runner, stream=body.stream, on_disconnect=body.on_disconnect
    )


async def run_response(
    state: ServerState,
    channel: RunChannel,
    runner: Runner,
    *,
    stream: bool,
    on_disconnect: OnDisconnect | None,
) -> Response:
    """A started run's answer: its SSE stream, or one JSON object once it has ended."""
    request = channel.request
    headers = {"X-Run-Id": request.run_id, "X-Session-Id": request.session_id}
    if stream:
        frames = event_frames(
            state,
            channel,
            runner=runner,
            user_id=request.user_id,
            session_id=request.session_id,
            run_id=request.run_id,
            after=None,
        )
        policy = on_disconnect or state.settings.on_disconnect
        return SSEResponse(frames, headers=headers, on_left=state.runs.on_left(channel, policy))
    return json_response(await run_answer(channel, runner), headers=headers)


async def run_answer(channel: RunChannel, runner: Runner) -> dict[str, Any]:
    """A run as one JSON object, once it has ended (`"stream": false`)."""
    request = channel.request
    frames = follow(
        channel,
        runner=runner,
        user_id=request.user_id,
        session_id=request.session_id,
        run_id=request.run_id,
    )
    events = [f.event async for f in frames if f is not None and not f.event.partial]
    terminal = events[-1] if events and events[-1].is_terminal else None
    status = (terminal.data or {}).get("status", "failed") if terminal else "failed"
    return {
        "run_id": request.run_id,
        "session_id": request.session_id,
        "status": status,
        "output": final_text(events),
        "usage": terminal.usage if terminal else None,
        "error": terminal.error if terminal else None,
        # a reply cut mid-stream is stored marked `data.incomplete` on its message.completed
        "incomplete": any(
            e.type == "message.completed" and (e.data or {}).get("incomplete") for e in events
        ),
        "events": events,
    }


@api.post("/{agent}/runs", summary="Run the agent in a new session (SSE or JSON)")
async def run_new(who: Who, state: State, agent: AgentName, body: RunBody) -> Response:
    return await start_run(state, who, agent, new_session_id(), body, new=True)


@api.post("/{agent}/sessions/{session_id}/runs", summary="Run the agent in a session")
async def run_in_session(
    who: Who, state: State, agent: AgentName, session_id: SessionPath, body: RunBody
) -> Response:
    return await start_run(state, who, agent, session_id, body, new=False)


# the run routes `_fast_runs` calls directly on the straight path (a valid JSON body): their
# parameters must be exactly `who`, `state`, `body` and path parameters
FAST_ENDPOINTS = frozenset({run_new, run_in_session})


@api.get("/{agent}/sessions/{session_id}/runs/{run_id}", summary="A run's status")
async def get_run(
    who: Who, state: State, agent: AgentName, session_id: SessionPath, run_id: RunPath
) -> Response:
    runner = state.runner(agent)
    channel = owned_channel(state, who, agent, session_id, run_id)
    if channel is None and (meta := await _elsewhere(state, who, agent, session_id, run_id)):
        try:
            return json_response(await run_status(None, runner, who.user_id, session_id, run_id))
        except (RunNotFound, SessionNotFound):  # queued on a worker: nothing stored yet
            return json_response(
                {"run_id": run_id, "session_id": session_id, "status": meta.get("status")}
            )
    if channel is None:
        await runner.get_session(who.user_id, session_id)  # 404 for the session first
    return json_response(await run_status(channel, runner, who.user_id, session_id, run_id))


@api.get(
    "/{agent}/sessions/{session_id}/runs/{run_id}/events",
    summary="A run's events as SSE, resumable with Last-Event-ID",
)
async def stream_run(
    who: Who,
    state: State,
    agent: AgentName,
    session_id: SessionPath,
    run_id: RunPath,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=40, description="Resume after.")
    ] = None,
    after: Annotated[
        str | None, Query(max_length=40, description="Like Last-Event-ID, for EventSource.")
    ] = None,
) -> Response:
    runner = state.runner(agent)
    raw = last_event_id if last_event_id is not None else after
    field = "Last-Event-ID" if last_event_id is not None else "after"
    position = parse_event_id(raw, field=field) if raw is not None else None
    channel = owned_channel(state, who, agent, session_id, run_id)
    cluster = cluster_of(state)
    if channel is None and (meta := await _elsewhere(state, who, agent, session_id, run_id)):
        assert cluster is not None
        batches = cluster_batches(
            cluster,
            runner,
            stored_request(meta, run_id),
            after=position,
            ping=state.settings.ping_interval,
        )
        frames = event_frames(
            state,
            None,
            runner=runner,
            user_id=who.user_id,
            session_id=session_id,
            run_id=run_id,
            after=position,
            batches=batches,
        )
        headers = {"X-Run-Id": run_id, "X-Session-Id": session_id}
        return SSEResponse(frames, headers=headers)
    if channel is None:
        await _check_stored_run(runner, who.user_id, session_id, run_id, position, field)
    elif position is not None and position > channel.last_position:
        _beyond(raw or "", run_id, field)
    frames = event_frames(
        state,
        channel,
        runner=runner,
        user_id=who.user_id,
        session_id=session_id,
        run_id=run_id,
        after=position,
    )
    headers = {"X-Run-Id": run_id, "X-Session-Id": session_id}
    return SSEResponse(
        frames, headers=headers, on_left=state.runs.on_left(channel, state.settings.on_disconnect)
    )


@api.post(
    "/{agent}/sessions/{session_id}/runs/{run_id}/cancel",
    status_code=202,
    summary="Cancel a run",
)
async def cancel_run(
    who: Who, state: State, agent: AgentName, session_id: SessionPath, run_id: RunPath
) -> Response:
    runner = state.runner(agent)
    channel = owned_channel(state, who, agent, session_id, run_id)
    if channel is None and await _elsewhere(state, who, agent, session_id, run_id):
        await _cancel_elsewhere(state, runner, who, session_id, run_id)
        return json_response({"run_id": run_id, "status": "cancelling"}, status=202)
    if channel is None:
        summary = await run_status(None, runner, who.user_id, session_id, run_id)
        raise RunFinished(run_id, str(summary["status"]))
    state.runs.cancel(channel, f"cancelled by {who.user_id} over HTTP")
    return json_response({"run_id": run_id, "status": "cancelling"}, status=202)


def router(state: ServerState) -> APIRouter:
    """The native API (the handlers find the state through the request)."""
    return api


def _session_body(agent: str, session_id: str, user_id: str, session: Any) -> dict[str, Any]:
    return {
        "id": session_id,
        "agent": agent,
        "user_id": user_id,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "event_count": len(session.events),
        "last_seq": session.last_seq,
        "state": session.state,
        "runs": summarize_runs(session.events),
    }


def _beyond(raw: str, run_id: str, field: str) -> None:
    raise InvalidArgument(
        field, f"{raw!r} is after the last event of run {run_id!r}; nothing to resume from there"
    )


async def _check_stored_run(
    runner: Runner,
    user_id: str,
    session_id: str,
    run_id: str,
    position: Position | None,
    field: str,
) -> None:
    """404 unless the run is in the user's session; 400 if resuming after its last event."""
    frames = await stored_frames(runner, user_id, session_id, run_id)
    if not frames:
        raise RunNotFound(run_id)
    if position is not None and position > frames[-1].pos:
        _beyond(format_position(position), run_id, field)


# ---- runs driven by another process (server/cluster.py) ----------------------------------


async def _elsewhere(
    state: ServerState, who: Principal, agent: str, session_id: str, run_id: str
) -> dict[str, Any] | None:
    """The run's meta in the run streams, if it is this user's run driven elsewhere."""
    cluster = cluster_of(state)
    if cluster is None:
        return None
    meta = await cluster.streams.meta(run_id)
    return meta if meta is not None and owns(meta, agent, who.user_id, session_id) else None


async def _cancel_elsewhere(
    state: ServerState, runner: Runner, who: Principal, session_id: str, run_id: str
) -> None:
    try:
        summary = await run_status(None, runner, who.user_id, session_id, run_id)
    except (RunNotFound, SessionNotFound):
        summary = {"status": "queued"}
    if summary["status"] not in ("running", "queued"):
        raise RunFinished(run_id, str(summary["status"]))
    cluster = cluster_of(state)
    assert cluster is not None
    await cluster.streams.cancel(run_id, f"cancelled by {who.user_id} over HTTP")


async def _background(state: ServerState, request: RunRequest, runner: Runner) -> None:
    cluster = cluster_of(state)
    if cluster is None:
        raise InvalidArgument(
            "background",
            "background runs need run streams and a broker: set cluster.events and "
            "cluster.broker in agenthost.yaml (or AGENTHOST_EVENTS_URL and AGENTHOST_BROKER_URL) "
            "and start `agenthost worker`",
        )
    await state.runs.admit(request)  # shutting down, before-run hooks: as a foreground run
    await submit_background(cluster, request, runner)


def _queued(request: RunRequest, agent: str) -> dict[str, Any]:
    base = f"/v1/apps/{agent}/sessions/{request.session_id}/runs/{request.run_id}"
    return {
        "run_id": request.run_id,
        "session_id": request.session_id,
        "status": "queued",
        "events_url": f"{base}/events",
        "status_url": base,
    }
