"""The A2A request handler: the a2a-sdk's `RequestHandler` interface over the server's runs.

The SDK's `DefaultRequestHandler` runs an `AgentExecutor` with its own task lifecycle, queues
and `TaskStore`. Here the server's `RunManager` already owns every run and the session store
is the one record, so this handler maps the A2A methods onto them directly (the SDK still
parses and answers JSON-RPC, both protocol versions, and serves the SSE stream):

    SendMessage / message/send          start a run; wait for its end (or, with
                                        returnImmediately / blocking=false, return at once)
    SendStreamingMessage / message/stream  start a run; the Task, then its updates (SSE)
    GetTask / tasks/get                 the task from the run's stored events
    CancelTask / tasks/cancel           `RunManager.cancel` (-> `Runner.cancel`), wait for the
                                        end (a few seconds at most), the CANCELED task
    SubscribeToTask / tasks/resubscribe the task now, then its updates while it runs

Task ids are run ids, context ids are session ids; a message without `contextId` starts a new
session. A task belongs to the user of the key that started it, in one agent: another user's
task is "not found" (TaskNotFoundError, -32001), like an unknown id. Tasks take one message:
a `taskId` naming a task of this server is refused (the conversation goes on with `contextId`).

Which session holds a task (tasks/get has only the task id) is kept in the runner's key/value
store (`agenthost.a2a/<app>` namespace), so tasks survive a restart with a persistent store, and
in a bounded in-memory cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import RequestHandler
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.proto_utils import validate_proto_required_fields
from a2a.utils.task import apply_history_length, validate_history_length

from agenthost.core.errors import AgentHostError, SessionNotFound
from agenthost.core.events import Event
from agenthost.core.ids import new_session_id
from agenthost.engine.runner import Runner
from agenthost.server.a2a._convert import (
    A2AEvent,
    StreamMapper,
    build_task,
    state_name,
    user_message,
)
from agenthost.server.auth import Principal
from agenthost.server.errors import RunFinished, status_of
from agenthost.server.runs import Position, RunChannel, RunRequest, follow
from agenthost.server.schemas import SESSION_ID_PATTERN
from agenthost.server.state import ServerState

log = logging.getLogger("agenthost.server.a2a")

API = "a2a"  # RunRequest.api of the runs started here
CALLER = "agenthost.caller"  # the ServerCallContext.state key of the Caller
CANCEL_WAIT = 10.0  # seconds tasks/cancel waits for the run to end
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls which agent (put in the SDK's call context by the route)."""

    state: ServerState
    agent: str
    principal: Principal


@dataclass(frozen=True, slots=True)
class TaskRef:
    run_id: str
    session_id: str
    user_id: str


class TaskIndex:
    """Which user's session holds a task: the runner's key/value store, with a bounded LRU
    cache in front (only the cache when the store has no key/value space)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._cache: OrderedDict[tuple[str, str], TaskRef] = OrderedDict()

    @staticmethod
    def namespace(runner: Runner) -> str:
        return f"agenthost.a2a/{runner.app}"

    def _keep(self, agent: str, ref: TaskRef) -> None:
        key = (agent, ref.run_id)
        self._cache[key] = ref
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

    async def add(self, runner: Runner, agent: str, ref: TaskRef) -> None:
        self._keep(agent, ref)
        if runner.kv is None:
            return
        value = {"session_id": ref.session_id, "user_id": ref.user_id}
        try:
            await runner.kv.kv_set(self.namespace(runner), ref.run_id, value)
        except Exception:  # the run goes on; only a later tasks/get after a restart misses it
            log.exception("could not record A2A task %s in the store", ref.run_id)

    async def find(self, runner: Runner, agent: str, run_id: str) -> TaskRef | None:
        found = self._cache.get((agent, run_id))
        if found is not None or runner.kv is None:
            return found
        value = await runner.kv.kv_get(self.namespace(runner), run_id)
        if not isinstance(value, dict):
            return None
        session_id, user_id = value.get("session_id"), value.get("user_id")
        if not isinstance(session_id, str) or not isinstance(user_id, str):
            return None
        ref = TaskRef(run_id, session_id, user_id)
        self._keep(agent, ref)
        return ref


def a2a_error(exc: AgentHostError) -> A2AError:
    """An agenthost error as the A2A error a client understands; `data` keeps our code."""
    data = {"code": exc.code, "retryable": "true" if exc.retryable else "false"}
    status = status_of(exc)
    if status in (400, 413, 422):
        return InvalidParamsError(message=exc.message, data=data)
    if status in (403, 409):
        return InvalidRequestError(message=exc.message, data=data)
    return InternalError(message=exc.message, data=data)


def _caller(context: ServerCallContext) -> Caller:
    caller = context.state.get(CALLER)
    if not isinstance(caller, Caller):
        raise InternalError(message="the A2A call context has no caller (a server bug)")
    return caller


def _not_found(task_id: str) -> TaskNotFoundError:
    return TaskNotFoundError(
        message=f"Task {task_id[:200]!r} was not found: it was started with another key or "
        f"for another agent, its session was deleted, or it is not a task of this server."
    )


async def _wait_done(channel: RunChannel, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while not channel.done:
                await channel.wait(channel.end, None)


class AgentHostRequestHandler(RequestHandler):
    """A2A methods over `ServerState.runs` (see the module doc)."""

    def __init__(self, index: TaskIndex | None = None) -> None:
        self.index = index or TaskIndex()

    # ---- finding a caller's task -----------------------------------------------------------

    @staticmethod
    def _channel(caller: Caller, run_id: str) -> RunChannel | None:
        """The active A2A run `run_id` if it is the caller's, in this agent."""
        channel = caller.state.runs.get(run_id)
        if channel is None:
            return None
        request = channel.request
        mine = (request.agent, request.user_id, request.api) == (
            caller.agent,
            caller.principal.user_id,
            API,
        )
        return channel if mine else None

    async def _owned(self, caller: Caller, runner: Runner, task_id: str) -> TaskRef:
        if not task_id or len(task_id) > 256:
            raise _not_found(task_id)
        channel = self._channel(caller, task_id)
        if channel is not None:
            request = channel.request
            return TaskRef(task_id, request.session_id, request.user_id)
        ref = await self.index.find(runner, caller.agent, task_id)
        if ref is None or ref.user_id != caller.principal.user_id:
            raise _not_found(task_id)
        return ref

    @staticmethod
    async def _events(runner: Runner, ref: TaskRef, channel: RunChannel | None) -> list[Event]:
        """The run's stored events (plus a terminal event the runner could not store)."""
        try:
            session = await runner.get_session(ref.user_id, ref.session_id)
        except SessionNotFound:
            raise _not_found(ref.run_id) from None
        events = [e for e in session.events if e.run_id == ref.run_id]
        terminal = channel.terminal if channel is not None else None
        if terminal is not None and terminal.seq == 0:
            events.append(terminal)
        if not events:
            raise _not_found(ref.run_id)
        return events

    async def _task(self, runner: Runner, ref: TaskRef, channel: RunChannel | None) -> Task:
        events = await self._events(runner, ref, channel)
        working = channel is not None and channel.end > 1
        return build_task(ref.run_id, ref.session_id, events, working=working)

    # ---- starting a run --------------------------------------------------------------------

    async def _start(
        self, caller: Caller, params: SendMessageRequest
    ) -> tuple[RunChannel, Runner, TaskRef]:
        validate_proto_required_fields(params)
        validate_history_length(params.configuration)
        incoming = params.message
        message = user_message(incoming)
        runner = caller.state.runner(caller.agent)
        session_id = incoming.context_id or new_session_id()
        if not _SESSION_ID.fullmatch(session_id):
            raise InvalidParamsError(
                message=f"message.contextId {session_id[:80]!r} is not a context id of this "
                f"server: 1-256 of letters, digits and . _ : @ + = -"
            )
        if incoming.task_id:
            await self._refuse_task(caller, runner, incoming.task_id, incoming.context_id)
        request = RunRequest(
            agent=caller.agent,
            user_id=caller.principal.user_id,
            session_id=session_id,
            message=message,
            api=API,
            new_session=not incoming.context_id,  # a context id made here: a new session
        )
        try:
            channel = await caller.state.runs.start(request, runner)
        except AgentHostError as exc:
            raise a2a_error(exc) from exc
        ref = TaskRef(request.run_id, session_id, request.user_id)
        await self.index.add(runner, caller.agent, ref)
        return channel, runner, ref

    async def _refuse_task(
        self, caller: Caller, runner: Runner, task_id: str, context_id: str
    ) -> None:
        ref = await self._owned(caller, runner, task_id)
        if context_id and context_id != ref.session_id:
            raise InvalidParamsError(
                message=f"message.contextId {context_id[:80]!r} is not the context of task "
                f"{task_id!r} ({ref.session_id!r})"
            )
        what = "is still running" if self._channel(caller, task_id) else "has ended"
        raise UnsupportedOperationError(
            message=f"Task {task_id!r} {what}: a task of this server answers one message. Send "
            f"the next message without taskId and with contextId {ref.session_id!r} to go on "
            f"with the conversation."
        )

    # ---- streams -----------------------------------------------------------------------------

    async def _stream(
        self,
        caller: Caller,
        runner: Runner,
        channel: RunChannel,
        ref: TaskRef,
        first: Task,
        mapper: StreamMapper,
        after: Position | None,
    ) -> AsyncGenerator[A2AEvent, None]:
        """`first`, then the run's events after `after`, mapped; the server's on_disconnect
        policy applies when the reader leaves before the end."""
        finished = False
        try:
            yield first
            frames = follow(
                channel,
                runner=runner,
                user_id=ref.user_id,
                session_id=ref.session_id,
                run_id=ref.run_id,
                after=after,
            )
            async for frame in frames:
                if frame is not None:
                    for item in mapper.map(frame.event):
                        yield item
            finished = True
        finally:
            state = caller.state
            if not finished and channel.terminal is None:
                if state.settings.on_disconnect == "cancel":
                    log.info("A2A client left task %s: cancelling it", ref.run_id)
                    with contextlib.suppress(RunFinished):
                        state.runs.cancel(channel, "the A2A client disconnected")
                else:
                    log.info("A2A client left task %s: it goes on", ref.run_id)

    # ---- the methods -------------------------------------------------------------------------

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        caller = _caller(context)
        channel, runner, ref = await self._start(caller, params)
        if params.configuration.return_immediately:
            task = await self._task(runner, ref, channel)
        else:
            frames = follow(
                channel,
                runner=runner,
                user_id=ref.user_id,
                session_id=ref.session_id,
                run_id=ref.run_id,
            )
            events = [f.event async for f in frames if f is not None and not f.event.partial]
            task = build_task(ref.run_id, ref.session_id, events)
        return apply_history_length(task, params.configuration)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[A2AEvent, None]:
        caller = _caller(context)
        channel, runner, ref = await self._start(caller, params)
        # the task as it was submitted (its user message); what followed comes as updates
        received = [f.event for f in channel.frames_from(0)[:1] if not f.event.partial]
        if received and received[0].type == "message.received":
            first = build_task(ref.run_id, ref.session_id, received)
        else:
            first = await self._task(runner, ref, channel)
        mapper = StreamMapper(ref.run_id, ref.session_id)
        stream = self._stream(caller, runner, channel, ref, first, mapper, after=None)
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        validate_proto_required_fields(params)
        validate_history_length(params)
        caller = _caller(context)
        runner = caller.state.runner(caller.agent)
        ref = await self._owned(caller, runner, params.id)
        task = await self._task(runner, ref, self._channel(caller, ref.run_id))
        return apply_history_length(task, params)

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        validate_proto_required_fields(params)
        caller = _caller(context)
        runner = caller.state.runner(caller.agent)
        ref = await self._owned(caller, runner, params.id)
        channel = self._channel(caller, ref.run_id)
        try:
            if channel is None:
                raise RunFinished(ref.run_id, "ended")
            caller.state.runs.cancel(channel, f"cancelled by {ref.user_id} over A2A")
        except RunFinished:
            task = await self._task(runner, ref, channel)
            raise TaskNotCancelableError(
                message=f"Task {ref.run_id!r} has already ended "
                f"({state_name(task.status.state)}); nothing to cancel."
            ) from None
        await _wait_done(channel, CANCEL_WAIT)
        return await self._task(runner, ref, channel)

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[A2AEvent, None]:
        validate_proto_required_fields(params)
        caller = _caller(context)
        runner = caller.state.runner(caller.agent)
        ref = await self._owned(caller, runner, params.id)
        channel = self._channel(caller, ref.run_id)
        if channel is None or channel.done:
            raise UnsupportedOperationError(
                message=f"Task {ref.run_id!r} has ended; GetTask (tasks/get) returns it."
            )
        events = await self._events(runner, ref, channel)
        working = channel.end > 1
        first = build_task(ref.run_id, ref.session_id, events, working=working)
        after: Position = (max(e.seq for e in events), 0)
        mapper = StreamMapper(
            ref.run_id,
            ref.session_id,
            answers=len(first.artifacts),
            working=first.status.state == TaskState.TASK_STATE_WORKING,
        )
        stream = self._stream(caller, runner, channel, ref, first, mapper, after=after)
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        raise UnsupportedOperationError(
            message="ListTasks is not supported: use GetTask with a task id, or the native API "
            "(GET /v1/apps/{agent}/sessions/{contextId}) for the runs of a context."
        )

    # ---- not offered -------------------------------------------------------------------------

    @staticmethod
    def _no_push() -> PushNotificationNotSupportedError:
        return PushNotificationNotSupportedError(
            message="Push notifications are not supported: stream (SendStreamingMessage) or "
            "poll GetTask."
        )

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise self._no_push()

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise self._no_push()

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        raise self._no_push()

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise self._no_push()

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise UnsupportedOperationError(
            message="There is no extended agent card: the public card is the whole card."
        )


__all__ = ["AgentHostRequestHandler", "Caller", "TaskIndex", "TaskRef", "a2a_error"]
