"""Human approval of tool calls: the answer, and what a session's events say is pending.

A tool marked `requires_approval` is not called when the model asks for it: the run stores an
`approval.requested` event (`data`: approval_id, tool_call_id, tool_name, arguments) and ends
with `run.completed` whose `data.status` is `paused`. Someone answers with an
`ApprovalAnswer`; the answer starts a *new run* in the same session (its first event is
`approval.answered`, `data.paused_run_id` links it to the run that paused) that makes the
call, or tells the model it was rejected, and goes on. Everything is in the session's events,
so a pause survives a restart. See engine/approval.py for the rest of the design.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from agenthost.core.events import Event

Decision = Literal["approved", "rejected", "expired"]

PAUSED: Final = "paused"  # data.status of the run.completed of a run that waits for an answer
FINISH_REASON: Final = "approval_required"  # and its data.finish_reason


class ApprovalAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """An answer to an approval request. `arguments` (only when approving) replace the
    arguments the model gave; `message` is a note the model reads with the result (why it
    was rejected, say)."""

    approval_id: str
    approve: bool
    arguments: dict[str, Any] | None = None
    message: str | None = None


class PendingApproval(msgspec.Struct, kw_only=True):
    """A tool call waiting for an answer. `arguments` is the JSON text the model produced."""

    approval_id: str
    run_id: str
    app: str
    user_id: str
    session_id: str
    agent: str
    tool_call_id: str
    tool_name: str
    arguments: str
    requested_at: float


def pending_of(event: Event) -> PendingApproval:
    """The pending approval an `approval.requested` event stands for."""
    data = event.data or {}
    return PendingApproval(
        approval_id=str(data.get("approval_id", "")),
        run_id=event.run_id,
        app=event.app,
        user_id=event.user_id,
        session_id=event.session_id,
        agent=event.author,
        tool_call_id=str(data.get("tool_call_id", "")),
        tool_name=str(data.get("tool_name", "")),
        arguments=str(data.get("arguments", "{}")),
        requested_at=event.timestamp,
    )


class ApprovalState(msgspec.Struct, kw_only=True):
    """What a session's events say about one approval: its request, its answer (if any),
    and whether a newer user message came after the request (the pause is then over)."""

    requested: Event | None = None
    answered: Event | None = None
    superseded: bool = False


def approval_state(events: list[Event], approval_id: str) -> ApprovalState:
    """Find approval `approval_id` in a session's events (newest first, stopping at its
    request)."""
    state = ApprovalState()
    for event in reversed(events):
        kind = event.type
        if kind == "approval.answered":
            if (event.data or {}).get("approval_id") == approval_id:
                state.answered = event
        elif kind == "message.received":
            state.superseded = True
        elif kind == "approval.requested" and (event.data or {}).get("approval_id") == approval_id:
            state.requested = event
            return state
    return ApprovalState()


def pending_approvals(events: list[Event]) -> list[PendingApproval]:
    """The approvals of a session still waiting for an answer, oldest first: those requested
    after its last user message and not answered."""
    answered: set[str] = set()
    pending: list[PendingApproval] = []
    for event in reversed(events):
        kind = event.type
        if kind == "message.received":
            break
        if kind == "approval.answered":
            answered.add(str((event.data or {}).get("approval_id")))
        elif kind == "approval.requested":
            found = pending_of(event)
            if found.approval_id not in answered:
                pending.append(found)
    pending.reverse()
    return pending


def is_paused(event: Event) -> bool:
    """True for the terminal event of a run that waits for approvals."""
    return event.type == "run.completed" and (event.data or {}).get("status") == PAUSED
