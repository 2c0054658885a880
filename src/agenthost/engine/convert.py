"""Agent results -> session events."""

from __future__ import annotations

from typing import Any

from agenthost.core.events import ErrorInfo, Event, EventType
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, TextPart
from agenthost.core.session import SessionKey
from agenthost.core.state import scoped_key
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


def delta_event(result: MessageDelta, run_id: str, author: str, key: SessionKey) -> Event:
    """The partial event of a text delta (the most frequent result, made directly)."""
    return Event(
        id=new_id(),
        run_id=run_id,
        author=result.author or author,
        type="message.delta",
        app=key.app,
        user_id=key.user_id,
        session_id=key.session_id,
        partial=True,
        message=Message(role="assistant", parts=(TextPart(text=result.text),)),
        branch=result.branch,
    )


def _fields(result: RunResult) -> tuple[EventType, dict[str, Any]] | None:
    if isinstance(result, MessageDelta):
        text = Message(role="assistant", parts=(TextPart(text=result.text),))
        return "message.delta", {"partial": True, "message": text}
    if isinstance(result, MessageCompleted):
        data: dict[str, Any] | None = {"model": result.model} if result.model else None
        if result.incomplete:
            data = {**(data or {}), "incomplete": True}
        return "message.completed", {"message": result.message, "usage": result.usage, "data": data}
    if isinstance(result, ToolCallStarted):
        data = {
            "tool_call_id": result.tool_call_id,
            "tool_name": result.tool_name,
            "parameters": result.parameters,
        }
        return "tool.call.started", {"data": data}
    if isinstance(result, ToolCallCompleted):
        error = result.error
        return "tool.call.completed", {
            "message": result.tool_message(),
            "data": {"tool_call_id": result.tool_call_id, "tool_name": result.tool_name},
            "error": ErrorInfo(code="tool_error", message=error) if error is not None else None,
        }
    if isinstance(result, StateUpdated):
        return "state.updated", {
            "state_delta": {scoped_key(result.scope, result.key): result.value}
        }
    if isinstance(result, ApprovalRequested):
        data = {
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


def result_event(result: RunResult, run_id: str, author: str, key: SessionKey) -> Event | None:
    """The event for a non-terminal result (None for results that make no event). A result
    from a composed agent's sub-agent carries its own author and branch."""
    fields = _fields(result)
    if fields is None:
        return None
    extra = fields[1]
    if result.branch is not None:
        extra["branch"] = result.branch
    return new_event(fields[0], run_id, result.author or author, key, **extra)
