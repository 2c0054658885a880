"""The book-keeping of one active run: grants, deadline, cancellation, pending state.

Cancellation design (one place, as pydantic-ai does it):

- The agent runs inside the caller's task, one `anext()` at a time, each wrapped in
  `asyncio.timeout_at(deadline)`; the runner keeps that Timeout object in `ActiveRun.scope`.
  A run without a deadline uses its `StepScope` instead (the same rules without a timer,
  one object for all its steps: `asyncio.timeout_at(None)` cost 2-3 µs a step).
- `Runner.cancel(run_id)` (and the `interrupt` busy policy) records the reason and reschedules
  that scope to fire now. The agent's pending await (model HTTP call, tool TaskGroup) is
  cancelled at once; asyncio turns it into TimeoutError at the scope, so the caller's task is
  never left with a stray cancellation. The runner sees the recorded reason and ends the run
  with `run.failed` (code `cancelled` or `interrupted`); a deadline with no reason gives
  `deadline_exceeded`.
- If the cancel arrives while the caller is busy with an already yielded event (no scope is
  active), the reason is only recorded; the runner checks it before asking the agent for more.
- When the caller stops iterating (client disconnect: `aclose()` / task cancelled), the runner
  stores `run.failed` with code `cancelled` and reason "caller went away", then re-raises.
- Composed agents (engine/composition) run their sub-agents inside their own `anext()`, and
  fan-out (ParallelAgent's branches, PluginAgent's host calls) runs in tasks of a `FanOut`
  the agent's generator owns (engine/fanout.py): the scope firing, or `aclose()`, cancels them
  all. A plugin agent answers cancellation by sending `agent.cancel` to its process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from agenthost.core.session import Session, SessionKey
from agenthost.engine.catalog import Catalog
from agenthost.engine.history import HistoryCache
from agenthost.ports.artifacts import ArtifactStore
from agenthost.ports.knowledge import LongTermMemory
from agenthost.ports.leases import Lease
from agenthost.ports.protocol import (
    ArtifactsResource,
    MemoryResource,
    Resources,
    RunContext,
    RunResult,
    StorageResource,
)
from agenthost.ports.sessions import KeyValueStore


class StepScope:
    """`asyncio.timeout_at(None)` for the runner's steps, one object reused by every step of
    a run: it fires only when `reschedule` asks (a cancel or interrupt), and then behaves as
    asyncio's Timeout does (the step's task is cancelled; the CancelledError it raises at the
    scope becomes TimeoutError unless someone else also cancelled the task)."""

    __slots__ = ("_cancelling", "_handle", "_loop", "_state", "_task")

    _IDLE, _ENTERED, _EXPIRING, _EXPIRED = range(4)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop  # the run's loop: `current_task(loop)` needs no running-loop lookup
        self._state = self._IDLE
        self._task: asyncio.Task[Any] | None = None
        self._handle: asyncio.Handle | None = None
        self._cancelling = 0

    def enter(self) -> None:
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("Timeout should be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._state = self._ENTERED

    def exit(self, cancelled: bool) -> bool:
        """Leave the step (`cancelled`: it raised CancelledError); True when that
        cancellation was this scope's own, to be raised as TimeoutError."""
        handle = self._handle
        if handle is not None:
            handle.cancel()
            self._handle = None
        task, self._task = self._task, None
        if self._state == self._EXPIRING:
            self._state = self._EXPIRED
            assert task is not None
            return task.uncancel() <= self._cancelling and cancelled
        self._state = self._IDLE
        return False

    def expired(self) -> bool:
        return self._state >= self._EXPIRING

    def reschedule(self, when: float | None) -> None:
        if self._state != self._ENTERED:
            raise RuntimeError("the step scope is not active")
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if when is not None:
            loop = asyncio.get_running_loop()
            if when <= loop.time():
                self._handle = loop.call_soon(self._on_timeout)
            else:
                self._handle = loop.call_at(when, self._on_timeout)

    def _on_timeout(self) -> None:
        assert self._task is not None
        self._task.cancel()
        self._state = self._EXPIRING
        self._handle = None


@dataclass(slots=True)
class Grants:
    """A run's resources, as sets for quick checks."""

    models: dict[str, frozenset[str]]
    tools: dict[str, frozenset[str]]
    knowledge: dict[str, frozenset[str]]
    history: bool
    state_read: frozenset[str]
    state_write: frozenset[str]
    state_keys: frozenset[str] | None
    storage: StorageResource | None
    max_state_bytes: int = 256_000
    artifacts: ArtifactsResource | None = None
    memory: MemoryResource | None = None

    @classmethod
    def from_resources(cls, resources: Resources, *, history: bool = True) -> Grants:
        return cls(
            models={m.model_id: frozenset(m.operations) for m in resources.models},
            tools={t.tool_name: frozenset(t.operations) for t in resources.tools},
            knowledge={k.kb_id: frozenset(k.operations) for k in resources.knowledge_bases},
            history=history,
            state_read=frozenset(resources.state.read),
            state_write=frozenset(resources.state.write),
            state_keys=None if resources.state.keys is None else frozenset(resources.state.keys),
            storage=resources.storage,
            artifacts=resources.artifacts,
            memory=resources.memory,
        )


@dataclass(slots=True, eq=False)
class ActiveRun:
    run_id: str
    session: Session
    grants: Grants
    catalog: Catalog
    history: HistoryCache
    kv: KeyValueStore | None
    deadline_at: float | None  # unix time
    key: SessionKey  # the session's (made once: `session.key` makes a new one each time)
    started: float = field(default_factory=time.time)
    finished: bool = False
    cancel_reason: str | None = None
    cancel_code: str = "cancelled"
    scope: asyncio.Timeout | StepScope | None = None
    step_scope: StepScope | None = None  # the steps' scope when the run has no deadline
    temp_state: dict[str, Any] = field(default_factory=dict)
    pending_state: dict[str, Any] = field(default_factory=dict)
    queued_results: list[RunResult] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    context: RunContext | None = None  # the run's context, for tools that run agents
    cursor: int = 0  # seq of the newest stored event before this run
    gate: Any = None  # the run's host Gate (engine/host.py), released when the run ends
    artifacts: ArtifactStore | None = None  # where `host.artifacts` keeps the session's files
    fence: Lease | None = None  # the session's lease, when the store checks its token on append
    memory: LongTermMemory | None = None  # the users' long-term memory (`host.memory`)

    def release(self) -> None:
        """Break the host's reference cycle (gate -> host -> capabilities -> gate) when the
        run has ended, so that the run's objects are freed at once, not by the cyclic GC."""
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.host = None

    def cancel_requested(self) -> bool:
        return self.cancel_reason is not None

    def request_cancel(self, reason: str, code: str = "cancelled") -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self.cancel_code = code
        scope = self.scope
        if scope is not None and not scope.expired():
            scope.reschedule(asyncio.get_running_loop().time())

    def deadline_loop_time(self) -> float | None:
        if self.deadline_at is None:
            return None
        return asyncio.get_running_loop().time() + (self.deadline_at - time.time())
