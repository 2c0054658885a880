"""The book-keeping of one active run: grants, deadline, cancellation, pending state.

Cancellation design (one place, as pydantic-ai does it):

- The agent runs inside the caller's task, one `anext()` at a time, each under the run's
  `StepScope` (`ActiveRun.step_scope`): a `CancelScope` (core/deadlines.py, where the
  Timeout rule is written once) armed with the run's deadline, one object for all the steps
  (`asyncio.timeout_at` cost 2-3 µs a step; a run without a deadline makes no timer).
- `Runner.cancel(run_id)` (and the `interrupt` busy policy) records the reason and fires
  that scope now. The agent's pending await (model HTTP call, tool TaskGroup) is cancelled at
  once; the scope turns it into TimeoutError, so the caller's task is never left with a stray
  cancellation. The runner sees the recorded reason and ends the run with `run.failed` (code
  `cancelled` or `interrupted`); a deadline with no reason gives `deadline_exceeded`. Work an
  agent must finish despite a cancel (cleanup) may run under `CancelScope(shield=True)`.
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

from agenthost.core.deadlines import CancelScope
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


class StepScope(CancelScope):
    """The scope of every step of one run (`Runner._step`: one `anext()` of the agent): a
    `CancelScope` entered afresh for each step, armed with the run's deadline (`deadline_at`,
    unix time, turned into event-loop time once), and fired early by `cancel()`
    (`ActiveRun.request_cancel`). A run without a deadline makes no timer at all; a run with
    one makes one timer for all its steps (`keep_timer`), cancelled by `ActiveRun.release`."""

    __slots__ = ()

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline_at: float | None = None) -> None:
        deadline = None if deadline_at is None else loop.time() + (deadline_at - time.time())
        super().__init__(deadline, keep_timer=True, loop=loop)


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
    step_scope: StepScope | None = None  # the scope of the run's steps (deadline, cancel)
    temp_state: dict[str, Any] = field(default_factory=dict)
    pending_state: dict[str, Any] = field(default_factory=dict)
    queued_results: list[RunResult] = field(default_factory=list)
    done: asyncio.Event | None = None  # made by the first `Runner.wait`, set when the run ends
    context: RunContext | None = None  # the run's context, for tools that run agents
    cursor: int = 0  # seq of the newest stored event before this run
    gate: Any = None  # the run's host Gate (engine/host.py), released when the run ends
    artifacts: ArtifactStore | None = None  # where `host.artifacts` keeps the session's files
    fence: Lease | None = None  # the session's lease, when the store checks its token on append
    memory: LongTermMemory | None = None  # the users' long-term memory (`host.memory`)

    def release(self) -> None:
        """Break the host's reference cycle (gate -> host -> capabilities -> gate) when the
        run has ended, so that the run's objects are freed at once, not by the cyclic GC;
        cancel the deadline's timer."""
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.host = None
        if self.step_scope is not None:
            self.step_scope.close()  # the deadline's timer, kept between the steps

    def cancel_requested(self) -> bool:
        return self.cancel_reason is not None

    def request_cancel(self, reason: str, code: str = "cancelled") -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self.cancel_code = code
        if self.step_scope is not None:
            self.step_scope.cancel()  # the step being run, if any; else `_step` sees the reason
