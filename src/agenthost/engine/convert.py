"""Agent results -> session events."""

from __future__ import annotations

from agenthost.core.events import ErrorInfo, Event
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


def result_event(result: RunResult, run_id: str, author: str, key: SessionKey) -> Event | None:
    """The event for a non-terminal result (None for results that make no event)."""
    kind = type(result)
    if kind is MessageDelta:
        return Event(
            id=new_id(),
            invocation_id=run_id,
            author=author,
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            type="message.delta",
            partial=True,
            message=Message(role="assistant", parts=(TextPart(text=result.text),)),  # type: ignore[union-attr]
        )
    if kind is MessageCompleted:
        assert isinstance(result, MessageCompleted)
        return Event(
            id=new_id(),
            invocation_id=run_id,
            author=author,
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            type="message.completed",
            message=result.message,
            usage=result.usage,
            data={"model": result.model} if result.model else None,
        )
    if kind is ToolCallStarted:
        assert isinstance(result, ToolCallStarted)
        return Event(
            id=new_id(),
            invocation_id=run_id,
            author=author,
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            type="tool.call.started",
            data={
                "tool_call_id": result.tool_call_id,
                "tool_name": result.tool_name,
                "parameters": result.parameters,
            },
        )
    if kind is ToolCallCompleted:
        assert isinstance(result, ToolCallCompleted)
        is_error = result.error is not None
        return Event(
            id=new_id(),
            invocation_id=run_id,
            author=author,
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            type="tool.call.completed",
            message=Message.tool(
                ToolResultPart(
                    tool_call_id=result.tool_call_id,
                    name=result.tool_name,
                    content=result.result,
                    is_error=is_error,
                )
            ),
            data={"tool_call_id": result.tool_call_id, "tool_name": result.tool_name},
            error=ErrorInfo(code="tool_error", message=result.error) if is_error else None,  # type: ignore[arg-type]
        )
    if kind is StateUpdated:
        assert isinstance(result, StateUpdated)
        return Event(
            id=new_id(),
            invocation_id=run_id,
            author=author,
            app=key.app,
            user_id=key.user_id,
            session_id=key.session_id,
            type="state.updated",
            state_delta={scoped_key(result.scope, result.key): result.value},
        )
    return None
