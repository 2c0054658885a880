"""Events: the one record of a session.

A session is an append-only list of events. The runner turns each result an agent streams into
an event, stores every non-partial one before yielding it, and ends each run with exactly one
terminal event (`run.completed`, `run.failed`, or `run.interrupted` when a crashed process left
the run open). State changes ride on events as `state_delta`.
"""

from __future__ import annotations

import time
from typing import Any, Final, Literal

import msgspec

from agenthost.core.messages import Message
from agenthost.core.usage import Usage

EventType = Literal[
    "message.received",  # the user's message that started a run
    "run.started",
    "message.delta",  # partial text, never stored
    "message.completed",
    "tool.call.started",
    "tool.call.completed",
    "state.updated",
    "approval.requested",  # a tool call waits for a person's answer (core/approvals.py)
    "approval.answered",  # the answer; the first event of the run that goes on after it
    "knowledge.retrieved",  # chunks a run retrieved, cited (document, chunk) for the client
    "compaction.summary",  # older events summarised for the model (engine/compaction.py)
    "compaction.failed",  # the summariser failed: the turn went on uncompacted
    "run.completed",
    "run.failed",
    "run.interrupted",
]

TERMINAL_TYPES: Final = frozenset({"run.completed", "run.failed", "run.interrupted"})
RunStatus = Literal["running", "completed", "failed", "cancelled", "interrupted", "paused"]


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    message: str
    retryable: bool = False


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One thing that happened in a session.

    `seq` is the event's position in its session, assigned when it is stored (0 = not stored).
    `branch` is set on events of composed agents' sub-agents: their path in the agent tree,
    dot-separated ("pipeline.writer"); `author` is then the sub-agent's name.

    Not tracked by the cyclic GC (`gc=False`, as Message and its parts): stores and caches
    hold many events, and an event never refers back to itself through its `data`.
    """

    id: str
    run_id: str
    author: str
    type: EventType
    app: str = ""
    user_id: str = ""
    session_id: str = ""
    timestamp: float = msgspec.field(default_factory=time.time)
    partial: bool = False
    message: Message | None = None
    usage: Usage | None = None
    state_delta: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    data: dict[str, Any] | None = None  # type-specific extras (tool name, status, cost, ...)
    branch: str | None = None
    seq: int = 0

    @property
    def invocation_id(self) -> str:
        """Deprecated name of `run_id` (events stored before 0.2 still load)."""
        return self.run_id

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    @property
    def text(self) -> str:
        """The message's text; for a tool result, its content ('' when there is none)."""
        message = self.message
        if message is None:
            return ""
        if message.role == "tool":
            return "".join(getattr(p, "content", "") for p in message.parts)
        return message.text


class RunSummary(msgspec.Struct, kw_only=True):
    """What a session's events say about one run."""

    run_id: str
    status: RunStatus
    started_at: float
    finished_at: float | None = None
    usage: Usage | None = None


def summarize_runs(events: list[Event]) -> list[RunSummary]:
    """Status of every run (invocation) found in `events`, oldest first."""
    runs: dict[str, RunSummary] = {}
    for event in events:
        run = runs.get(event.run_id)
        if run is None:
            if event.type not in ("message.received", "run.started", "approval.answered"):
                continue
            run = runs[event.run_id] = RunSummary(
                run_id=event.run_id, status="running", started_at=event.timestamp
            )
        if event.type in TERMINAL_TYPES:
            run.finished_at = event.timestamp
            run.usage = event.usage
            status = (event.data or {}).get("status")
            if event.type == "run.completed":
                run.status = "paused" if status == "paused" else "completed"
            elif event.type == "run.interrupted":
                run.status = "interrupted"
            elif status in ("cancelled", "interrupted"):
                run.status = status
            else:
                run.status = "failed"
    return list(runs.values())
