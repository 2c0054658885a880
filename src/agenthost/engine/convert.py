"""Agent results -> session events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agenthost.core.events import ErrorInfo, Event, EventType
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, TextPart
from agenthost.core.session import SessionKey
from agenthost.core.state import scoped_key
from agenthost.core.usage import Usage
from agenthost.ports.protocol import (
    ApprovalRequested,
    CompactionFailed,
    CompactionSummary,
    KnowledgeRetrieved,
    MessageCompleted,
    MessageDelta,
    RunResult,
    StateUpdated,
    ToolCallCompleted,
    ToolCallStarted,
)


def new_event(type: EventType, run_id: str, author: str, key: SessionKey, **fields: Any) -> Event:
    """An event of this run and session, with a fresh id."""
    return Event(
        id=new_id(),
        run_id=run_id,
        author=author,
        type=type,
        app=key.app,
        user_id=key.user_id,
        session_id=key.session_id,
        **fields,
    )


def run_event(
    type: EventType,
    run_id: str,
    author: str,
    key: SessionKey,
    *,
    message: Message | None = None,
    usage: Usage | None = None,
    state_delta: dict[str, Any] | None = None,
    error: ErrorInfo | None = None,
    data: dict[str, Any] | None = None,
    branch: str | None = None,
    partial: bool = False,
) -> Event:
    """`new_event` with every field named: no keyword dict to build and merge (the runner's
    events and those of a tool round trip are made with it)."""
    return Event(
        id=new_id(),
        run_id=run_id,
        author=author,
        type=type,
        app=key.app,
        user_id=key.user_id,
        session_id=key.session_id,
        partial=partial,
        message=message,
        usage=usage,
        state_delta=state_delta,
        error=error,
        data=data,
        branch=branch,
    )


def delta_event(result: MessageDelta, run_id: str, author: str, key: SessionKey) -> Event:
    """The partial event of a text delta (the most frequent result, made directly)."""
    return run_event(
        "message.delta",
        run_id,
        result.author or author,
        key,
        partial=True,
        message=Message(role="assistant", parts=(TextPart(text=result.text),)),
        branch=result.branch,
    )


def _fields(result: RunResult) -> tuple[EventType, dict[str, Any]] | None:
    if isinstance(result, MessageDelta):
        text = Message(role="assistant", parts=(TextPart(text=result.text),))
        return "message.delta", {"partial": True, "message": text}
    if isinstance(result, StateUpdated):
        return "state.updated", {
            "state_delta": {scoped_key(result.scope, result.key): result.value}
        }
    if isinstance(result, ApprovalRequested):
        data: dict[str, Any] = {
            "approval_id": result.approval_id,
            "tool_call_id": result.tool_call_id,
            "tool_name": result.tool_name,
            "arguments": result.arguments,
        }
        return "approval.requested", {"data": data}
    if isinstance(result, KnowledgeRetrieved):
        data = {"query": result.query, "mode": result.mode, "citations": result.citations}
        if result.notice is not None:
            data["notice"] = result.notice
        return "knowledge.retrieved", {"data": data}
    if isinstance(result, CompactionSummary):
        data = {
            "summary": result.summary,
            "start_seq": result.start_seq,
            "end_seq": result.end_seq,
            "tokens_before": result.tokens_before,
            "tokens_after": result.tokens_after,
        }
        if result.model:
            data["model"] = result.model
        return "compaction.summary", {"data": data, "usage": result.usage}
    if isinstance(result, CompactionFailed):
        data = {"tokens_before": result.tokens_before, "tokens_after": result.tokens_after}
        info = ErrorInfo(code=result.code, message=result.error)
        return "compaction.failed", {"data": data, "error": info}
    return None


def _completed(result: Any, run_id: str, author: str, key: SessionKey) -> Event:
    data: dict[str, Any] | None = {"model": result.model} if result.model else None
    if result.incomplete:
        data = {**(data or {}), "incomplete": True}
    return run_event(
        "message.completed",
        run_id,
        result.author or author,
        key,
        message=result.message,
        usage=result.usage,
        data=data,
        branch=result.branch,
    )


def _started(result: Any, run_id: str, author: str, key: SessionKey) -> Event:
    data = {
        "tool_call_id": result.tool_call_id,
        "tool_name": result.tool_name,
        "parameters": result.parameters,
    }
    return run_event(
        "tool.call.started", run_id, result.author or author, key, data=data, branch=result.branch
    )


def _tool_completed(result: Any, run_id: str, author: str, key: SessionKey) -> Event:
    error = result.error
    return run_event(
        "tool.call.completed",
        run_id,
        result.author or author,
        key,
        message=result.tool_message(),
        data={"tool_call_id": result.tool_call_id, "tool_name": result.tool_name},
        error=ErrorInfo(code="tool_error", message=error) if error is not None else None,
        branch=result.branch,
    )


# the results of every tool round trip, made directly (tests/unit/engine/test_convert.py)
_DIRECT: dict[type, Callable[[Any, str, str, SessionKey], Event]] = {
    MessageCompleted: _completed,
    ToolCallStarted: _started,
    ToolCallCompleted: _tool_completed,
}


def result_event(result: RunResult, run_id: str, author: str, key: SessionKey) -> Event | None:
    """The event for a non-terminal result (None for results that make no event). A result
    from a composed agent's sub-agent carries its own author and branch."""
    direct = _DIRECT.get(type(result))
    if direct is not None:
        return direct(result, run_id, author, key)
    return table_event(result, run_id, author, key)


def table_event(result: RunResult, run_id: str, author: str, key: SessionKey) -> Event | None:
    """`result_event` through the field table (`_fields`), for the results not in `_DIRECT`."""
    fields = _fields(result)
    if fields is None:
        return None
    extra = fields[1]
    if result.branch is not None:
        extra["branch"] = result.branch
    return new_event(fields[0], run_id, result.author or author, key, **extra)
