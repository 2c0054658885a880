"""Human approval of tool calls: marking tools, pausing a run, and going on after an answer.

The design, in one place:

- **Marking.** A tool needs approval when it says so (`function_tool(f, requires_approval=
  True)`, `@function_tool(requires_approval=True)`, or any Tool wrapped with
  `requires_approval(tool)`: an MCP tool, a sandbox tool, an agent tool), or when an
  LLMAgent's `approval=[...]` names it (tool names or shell patterns such as `"time__*"`;
  `approval:` in agenthost.yaml).
- **Pausing.** When the model asks for such a call, LLMAgent runs the other calls of the same
  turn (as the OpenAI Agents SDK and ADK do), then yields one `ApprovalRequested` per call
  that waits (stored as `approval.requested`: approval_id, tool_call_id, tool_name,
  arguments) and ends the run with `RunCompleted(finish_reason="approval_required")`. The
  runner stores it as `run.completed` with `data.status = "paused"`. Nothing waits in
  memory: the pause is the session's events, so it survives a restart.
- **Answering** (`Runner.answer_approval`, or `Runner.run` with an `ApprovalAnswer` as the
  message) starts a *new run* in the same session, as AG-UI's "resume" does: one run, one
  terminal event, always. Under the session lock (so the busy policy applies, and two answers
  to the same request are serialized) the answer is checked against the stored events, then
  `approval.answered` is stored as the new run's first event (`data`: approval_id, decision,
  paused_run_id, tool_call_id, tool_name, the edited `arguments` if any, `message`,
  answered_by). The approved call is made through the run's host (with the edited arguments
  if given, and a note to the model that they were changed); a rejected one gets the
  rejection as its result (`error: not run: ...`). When other approvals of that turn are
  still pending, the run ends paused again; else the agent runs on from the stored history
  (the model sees the call's result and goes on). The images the approved call returned
  reach the model as in any round of tool results (engine/tool_images.py): the agent that
  goes on reads them with `approved_images()` before its first model request. They are
  shown only when the agent goes on in that run (not when other approvals still wait).
- **A new message while approvals are pending** expires them: the new run first stores, per
  pending approval, `approval.answered` (decision `expired`) and the call's result ("not run:
  ... the user sent a new message instead"), so the model knows the call was not made. An
  answer to an expired approval is refused (`approval_run_finished`).
- **Finding an approval by its id alone**: the runner keeps an index in the store's key/value
  space (namespace `agenthost.approvals`, key = approval id, value = where it is), written
  before the pause is stored and deleted when the approval is answered or expires. A miss
  (answered already, or a store without key/value space) falls back to the user's sessions.
  The index says whose an approval is, so another user's answer is refused
  (`approval_forbidden`); the events say the rest (`approval_already_answered`,
  `approval_run_finished`, `approval_not_found`).
- **Other agents.** A plugin (or any agent calling `host.tools.call`) cannot pause: a call of
  a tool marked `requires_approval` is refused by the host, except the approved call itself.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

import msgspec
import orjson

from agenthost.core.approvals import (
    FINISH_REASON,
    ApprovalAnswer,
    PendingApproval,
    approval_state,
    pending_approvals,
    pending_of,
)
from agenthost.core.errors import (
    ApprovalAnswered,
    ApprovalForbidden,
    ApprovalNotFound,
    ApprovalRunFinished,
    ConfigError,
    HostAPIError,
    InvalidArgument,
)
from agenthost.core.events import Event
from agenthost.core.messages import Message, ToolCallPart
from agenthost.core.session import Session, SessionKey
from agenthost.engine.convert import new_event, result_event
from agenthost.engine.tool_exec import cap, error_output
from agenthost.engine.tool_images import images_message
from agenthost.ports.models import ToolSpec
from agenthost.ports.protocol import (
    Agent,
    HostAPI,
    ResultBatch,
    RunCompleted,
    ToolCallCompleted,
    ToolCallStarted,
)
from agenthost.ports.sessions import KeyValueStore, SessionStore
from agenthost.ports.tools import Tool, ToolOutput

if TYPE_CHECKING:
    from agenthost.core.approvals import Decision

log = logging.getLogger("agenthost.approval")

INDEX: Final = "agenthost.approvals"  # the key/value namespace of the approval index
REJECTED: Final = "error: not run: the user rejected this call"
EXPIRED: Final = (
    "error: not run: this call waited for the user's approval, and the user sent a new "
    "message instead"
)
EDITED: Final = "note: the user approved this call with other arguments: "

# ---- marking tools -------------------------------------------------------------------------


def needs_approval(tool: Any) -> bool:
    """True when a tool is marked `requires_approval`."""
    return getattr(tool, "requires_approval", False) is True


class ApprovalTool:
    """A Tool that needs approval before each call, around any other Tool (see
    `requires_approval`). Everything else (its catalogue, resources) is the wrapped tool's."""

    requires_approval: Final = True

    def __init__(self, tool: Tool) -> None:
        self.tool = tool

    @property
    def spec(self) -> ToolSpec:
        return self.tool.spec

    async def call(self, arguments: dict[str, Any]) -> Any:
        return await self.tool.call(arguments)

    def __getattr__(self, name: str) -> Any:
        if name == "function":  # not "the same tool" as the bare function (catalog.py)
            raise AttributeError(name)
        return getattr(self.tool, name)

    def __repr__(self) -> str:
        return f"requires_approval({self.tool!r})"


def requires_approval(tool: Any) -> Tool:
    """`tool` (a Tool or a plain function), needing a person's approval before each call."""
    from agenthost.engine.catalog import as_tool

    found = as_tool(tool)
    return found if needs_approval(found) else ApprovalTool(found)


def approval_names(tools: Sequence[Tool], patterns: Sequence[str]) -> frozenset[str]:
    """The names of the tools that need approval: those marked, and those a pattern of
    `patterns` (tool names or shell patterns) matches. A pattern that matches no tool is a
    ConfigError (a typo must not leave a tool unguarded)."""
    names = [t.spec.name for t in tools]
    marked = {t.spec.name for t in tools if needs_approval(t)}
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"approval[{index}]: {pattern!r} is not a tool name or pattern")
        matched = fnmatch.filter(names, pattern)
        if not matched:
            raise ConfigError(
                f"approval[{index}]: {pattern!r} matches none of the agent's tools "
                f"({', '.join(names) or 'none'}). Write a tool name or a pattern such as "
                f"'server__*'."
            )
        marked.update(matched)
    return frozenset(marked)


_approved: ContextVar[str | None] = ContextVar("agenthost_approved_call", default=None)


@contextlib.contextmanager
def approved_call(tool_name: str) -> Iterator[None]:
    """Within this block, the host lets a call of `tool_name` through although the tool is
    marked `requires_approval` (the approved call itself)."""
    token = _approved.set(tool_name)
    try:
        yield
    finally:
        _approved.reset(token)


def is_approved(tool_name: str) -> bool:
    return _approved.get() == tool_name


_approved_images: ContextVar[Message | None] = ContextVar("agenthost_approved_images", default=None)


def approved_images() -> Message | None:
    """The message showing the images the approved call of this run returned (see
    `images_message`), or None: set by `continue_after` while the agent that goes on after
    the call starts, up to its first result (LLMAgent reads it before its first model
    request)."""
    return _approved_images.get()


# ---- the index: approval id -> where it is --------------------------------------------------


async def index_add(kv: KeyValueStore | None, events: Sequence[Event]) -> None:
    """Remember where the `approval.requested` events of `events` are (before they are
    stored: a crash in between leaves an entry that leads nowhere, which reads as not found)."""
    if kv is None:
        return
    for event in events:
        if event.type == "approval.requested":
            pending = pending_of(event)
            try:
                await kv.kv_set(INDEX, pending.approval_id, msgspec.to_builtins(pending))
            except Exception as exc:  # the approval is still found through the session
                log.warning("could not index approval %s: %s", pending.approval_id, exc)


async def index_remove(kv: KeyValueStore | None, approval_ids: Sequence[str]) -> None:
    if kv is None:
        return
    for approval_id in approval_ids:
        try:
            await kv.kv_delete(INDEX, approval_id)
        except Exception as exc:  # a stale entry is checked against the session anyway
            log.warning("could not drop approval %s from the index: %s", approval_id, exc)


async def _indexed(kv: KeyValueStore | None, approval_id: str) -> PendingApproval | None:
    if kv is None:
        return None
    value = await kv.kv_get(INDEX, approval_id)
    if value is None:
        return None
    try:
        return msgspec.convert(value, PendingApproval)
    except msgspec.ValidationError:
        return None


async def locate(
    store: SessionStore, kv: KeyValueStore | None, app: str, user_id: str, approval_id: str
) -> PendingApproval:
    """Where approval `approval_id` of this user is (answered or not): from the index, else
    from the user's sessions, newest first. Raises ApprovalNotFound, ApprovalForbidden."""
    if not isinstance(approval_id, str) or not approval_id or len(approval_id) > 256:
        raise InvalidArgument("approval_id", f"must be a non-empty string, got {approval_id!r}")
    entry = await _indexed(kv, approval_id)
    if entry is not None and entry.app == app:
        if entry.user_id != user_id:
            raise ApprovalForbidden(approval_id)
        return entry
    for info in await store.list(app=app, user_id=user_id):
        session = await store.get(SessionKey(app, user_id, info.id))
        if session is None:
            continue
        requested = approval_state(session.events, approval_id).requested
        if requested is not None:
            return pending_of(requested)
    raise ApprovalNotFound(approval_id)


async def pending_for_user(
    store: SessionStore,
    kv: KeyValueStore | None,
    app: str,
    user_id: str,
    session_id: str | None = None,
) -> list[PendingApproval]:
    """The approvals waiting for this user's answer (in one session, or in all of them),
    oldest first. Without a session, the index says which sessions to look at (every
    session of the user when the store has no key/value space)."""
    if session_id is not None:
        sessions = [session_id]
    elif kv is not None:
        sessions = []
        for approval_id in await kv.kv_keys(INDEX):
            entry = await _indexed(kv, approval_id)
            if (
                entry is not None
                and (entry.app, entry.user_id) == (app, user_id)
                and entry.session_id not in sessions
            ):
                sessions.append(entry.session_id)
    else:
        sessions = [info.id for info in await store.list(app=app, user_id=user_id)]
    found: list[PendingApproval] = []
    for sid in sessions:
        session = await store.get(SessionKey(app, user_id, sid))
        if session is not None:
            found.extend(pending_approvals(session.events))
    found.sort(key=lambda p: p.requested_at)
    return found


# ---- answering ----------------------------------------------------------------------------


def check_answer(session: Session, answer: ApprovalAnswer) -> tuple[PendingApproval, int]:
    """The approval `answer` answers, if it may be answered now, and how many other approvals
    of the session stay pending; raises the ApprovalError that says why not."""
    approval_id = answer.approval_id
    state = approval_state(session.events, approval_id)
    requested = state.requested
    if requested is None:
        raise ApprovalNotFound(approval_id, session.id)
    answered = state.answered
    if answered is not None:
        data = answered.data or {}
        if data.get("decision") == "expired":
            raise ApprovalRunFinished(approval_id, requested.run_id)
        raise ApprovalAnswered(
            approval_id, str(data.get("decision")), data.get("answered_by"), answered.run_id
        )
    if state.superseded:
        raise ApprovalRunFinished(approval_id, requested.run_id)
    if answer.arguments is not None and not answer.approve:
        raise InvalidArgument("arguments", "only an approval takes arguments, not a rejection")
    if answer.arguments is not None and not isinstance(answer.arguments, dict):
        raise InvalidArgument("arguments", "must be a JSON object of the tool's arguments")
    others = sum(p.approval_id != approval_id for p in pending_approvals(session.events))
    return pending_of(requested), others


def answered_event(
    target: PendingApproval,
    decision: Decision,
    run_id: str,
    key: SessionKey,
    *,
    answer: ApprovalAnswer | None = None,
    extra: dict[str, Any] | None = None,
) -> Event:
    """The `approval.answered` event of `target`, in run `run_id`."""
    data: dict[str, Any] = {
        "approval_id": target.approval_id,
        "decision": decision,
        "paused_run_id": target.run_id,
        "tool_call_id": target.tool_call_id,
        "tool_name": target.tool_name,
    }
    if answer is not None:
        data["answered_by"] = key.user_id
        if answer.arguments is not None:
            data["arguments"] = orjson.dumps(answer.arguments).decode()
        if answer.message:
            data["message"] = answer.message
    if extra:
        data.update(extra)
    author = "user" if answer is not None else "runner"
    return new_event("approval.answered", run_id, author, key, data=data)


def expire_events(session: Session, run_id: str, key: SessionKey) -> list[Event]:
    """For a new message in a session that waits for approvals: each pending approval
    expires, and its call gets a result saying it was not made (events of run `run_id`)."""
    events: list[Event] = []
    for target in pending_approvals(session.events):
        events.append(answered_event(target, "expired", run_id, key))
        result = ToolCallCompleted.of(target.tool_call_id, target.tool_name, EXPIRED, error=True)
        event = result_event(result, run_id, target.agent, key)
        assert event is not None
        events.append(event)
    return events


async def continue_after(
    agent: Agent,
    host: HostAPI,
    target: PendingApproval,
    answer: ApprovalAnswer,
    others: int,
    *,
    then: AsyncIterator[ResultBatch],
) -> AsyncGenerator[ResultBatch, None]:
    """The run an answer starts: the call made (or rejected), then, when no other approval
    of that turn is pending, `then` (the agent's run, going on from the stored history)."""
    try:
        call_id, name = target.tool_call_id, target.tool_name
        images: Message | None = None
        if answer.approve:
            arguments = target.arguments
            if answer.arguments is not None:
                arguments = orjson.dumps(answer.arguments).decode()
            yield [ToolCallStarted(tool_call_id=call_id, tool_name=name, parameters=arguments)]
            output = await _call(agent, host, name, arguments)
            content = cap(output.content, getattr(agent, "max_tool_result_chars", None))
            if answer.arguments is not None:
                content = f"{EDITED}{arguments}\n{content}"
            if answer.message:
                content = f"note from the user: {answer.message}\n{content}"
            yield [ToolCallCompleted.of(call_id, name, content, error=output.is_error)]
            call = ToolCallPart(id=call_id, name=name, arguments=arguments)
            images = images_message([call], [output])
        else:
            text = f"{REJECTED}: {answer.message}" if answer.message else REJECTED
            yield [ToolCallCompleted.of(call_id, name, text, error=True)]
        if others:
            yield RunCompleted(finish_reason=FINISH_REASON)
            return
        token = _approved_images.set(images)  # read by the agent before its first result
        try:
            first = await anext(then, None)
        finally:
            _approved_images.reset(token)
        if first is None:
            return
        yield first
        async for batch in then:
            yield batch
    finally:
        close = getattr(then, "aclose", None)
        if close is not None:
            await close()


def ids_of(events: Sequence[Event]) -> list[str]:
    """The approval ids of the `approval.*` events among `events`."""
    return [
        str((e.data or {}).get("approval_id"))
        for e in events
        if e.type in ("approval.requested", "approval.answered")
    ]


async def _call(agent: Agent, host: HostAPI, name: str, arguments: str) -> ToolOutput:
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError as exc:
        parsed = exc
    if not isinstance(parsed, dict):
        return ToolOutput(
            content="error: the arguments are not a JSON object; send the arguments as a JSON "
            "object matching the tool's schema",
            is_error=True,
        )
    timeout = getattr(agent, "tool_timeout", 60.0)
    try:
        with approved_call(name):
            return await host.tools.call(name, parsed, timeout=timeout)
    except HostAPIError as exc:
        return error_output(exc)
