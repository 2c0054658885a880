"""Agent results -> session events."""

from __future__ import annotations

from typing import Any

from agenthost.core.events import ErrorInfo, Event, EventType
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, TextPart, ToolResultPart
from agenthost.core.session import SessionKey
from agenthost.core.state import scoped_key
from agenthost.ports.protocol import (
    MessageCompleted,
    MessageDelta,
    RunResult,
    StateUpdated,
    ToolCallCompleted,
    ToolCallStarted,
)

_TOOL_MESSAGES: dict[int, tuple[ToolCallCompleted, Message]] = {}
_TOOL_MESSAGES_MAX = 4096
_TOOL_MESSAGES_MAX_BYTES = 8 * 1024 * 1024  # the results' text, plus ~1 KB of objects each
_tool_messages_bytes = 0


def _tool_message_cost(result: ToolCallCompleted) -> int:
    return 2 * len(result.result) + 1024


def tool_message(result: ToolCallCompleted) -> Message:
    """The tool-role message for a tool result: the SAME object for the same result.

    The runner stores it on the `tool.call.completed` event and LLMAgent sends it to the model;
    sharing the object lets the model client's wire cache (keyed by identity) hit on the next
    turn instead of re-encoding the whole history. Bounded by count and by the memory it holds
    (the result text is in the result and in the message); an entry holds its result, so the
    id cannot be reused while it lives."""
    global _tool_messages_bytes
    key = id(result)
    entry = _TOOL_MESSAGES.get(key)
    if entry is not None and entry[0] is result:
        return entry[1]
    part = ToolResultPart(
        tool_call_id=result.tool_call_id,
        name=result.tool_name,
        content=result.result,
        is_error=result.error is not None,
    )
    message = Message.tool(part)
    cost = _tool_message_cost(result)
    if (
        len(_TOOL_MESSAGES) >= _TOOL_MESSAGES_MAX
        or _tool_messages_bytes + cost > _TOOL_MESSAGES_MAX_BYTES
    ):
        for old in list(_TOOL_MESSAGES)[: len(_TOOL_MESSAGES) // 2 + 1]:
            _tool_messages_bytes -= _tool_message_cost(_TOOL_MESSAGES.pop(old)[0])
    _TOOL_MESSAGES[key] = (result, message)
    _tool_messages_bytes += cost
    return message


def new_event(type: EventType, run_id: str, author: str, key: SessionKey, **fields: Any) -> Event:
    """An event of this run and session, with a fresh id."""
    return Event(
        id=new_id(),
        invocation_id=run_id,
        author=author,
        type=type,
        app=key.app,
        user_id=key.user_id,
        session_id=key.session_id,
        **fields,
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
            "message": tool_message(result),
            "data": {"tool_call_id": result.tool_call_id, "tool_name": result.tool_name},
            "error": ErrorInfo(code="tool_error", message=error) if error is not None else None,
        }
    if isinstance(result, StateUpdated):
        return "state.updated", {
            "state_delta": {scoped_key(result.scope, result.key): result.value}
        }
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
