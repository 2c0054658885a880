"""The Runner keeps the books.

`async for event in runner.run(user_id, session_id, message)`: lock the session (busy policy),
get or create it, close a run a crashed process left open (`run.interrupted`), store the user's
message, build the run context, run the agent, turn each result into an event, store every
non-partial event BEFORE yielding it, and end with exactly one terminal event (`run.completed`
or `run.failed`) carrying status, usage, cost and duration. See `active.py` for cancellation.

Use it with `contextlib.aclosing` when you may stop iterating early.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from contextlib import aclosing
from typing import Any, Literal

import msgspec

from agenthost.core.approvals import (
    FINISH_REASON,
    PAUSED,
    ApprovalAnswer,
    PendingApproval,
    is_paused,
)
from agenthost.core.errors import (
    AgentHostError,
    InvalidArgument,
    LeaseLost,
    RunError,
    RunNotFound,
    SessionExists,
    SessionNotFound,
    StoreError,
)
from agenthost.core.events import ErrorInfo, Event
from agenthost.core.ids import new_run_id, new_session_id
from agenthost.core.messages import Message, as_message
from agenthost.core.session import Session, SessionInfo, SessionKey
from agenthost.core.usage import Usage
from agenthost.engine import approval, gc_tuning, tracing
from agenthost.engine.active import ActiveRun, Grants, StepScope
from agenthost.engine.budgets import Meter
from agenthost.engine.catalog import Catalog, catalog_of, resources_for
from agenthost.engine.context import build_context
from agenthost.engine.convert import delta_event, new_event, result_event, run_event
from agenthost.engine.history import HistoryCache
from agenthost.engine.host import agent_memory, run_host
from agenthost.engine.locks import (
    BUSY_POLICIES,
    LEASE_SECONDS,
    RENEW_SECONDS,
    BusyPolicy,
    SessionLocks,
    store_leases,
)
from agenthost.engine.recovery import Recovery
from agenthost.engine.session_artifacts import delete_session_artifacts
from agenthost.engine.uploads import keep_uploads
from agenthost.ports.artifacts import ArtifactStore
from agenthost.ports.knowledge import KnowledgeBase, LongTermMemory
from agenthost.ports.leases import Lease, LeaseStore, fences_appends
from agenthost.ports.models import ChatModel
from agenthost.ports.protocol import (
    Agent,
    ArtifactsResource,
    DeliverySection,
    EventSource,
    MemoryResource,
    MessageDelta,
    Resources,
    ResultBatch,
    RunCompleted,
    RunFailed,
    RunResult,
    StorageResource,
)
from agenthost.ports.sessions import KeyValueStore, SessionStore

log = logging.getLogger("agenthost.runner")


class RunInfo(msgspec.Struct, kw_only=True):
    """An active run, as `Runner.active_runs()` reports it."""

    run_id: str
    app: str
    user_id: str
    session_id: str
    agent: str
    started_at: float
    last_event_at: float
    event_count: int


class _Outcome:
    """How the run ended, collected while driving the agent."""

    __slots__ = (
        "code",
        "finish_reason",
        "message",
        "retryable",
        "status",
        "store_failed",
        "tail",
        "usage",
    )

    def __init__(self) -> None:
        self.status = "completed"
        self.code: str | None = None
        self.message = ""
        self.retryable = False
        self.finish_reason = "stop"
        self.usage = Usage()
        self.tail: list[Event] = []  # the last batch's events, stored with the terminal event
        self.store_failed = False  # the store refused a write: nothing more can be stored

    def fail(
        self, code: str, message: str, *, retryable: bool = False, status: str = "failed"
    ) -> None:
        self.status, self.code, self.message, self.retryable = status, code, message, retryable


class _Answering:
    """An answer to an approval, and what checking it under the session lock found."""

    __slots__ = ("answer", "others", "target")

    def __init__(self, answer: ApprovalAnswer) -> None:
        self.answer = answer
        self.target: PendingApproval | None = None
        self.others = 0  # approvals of the session still pending besides this one


def _check_id(field: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 256 or "\x00" in value:
        raise InvalidArgument(
            field, f"must be a non-empty string of at most 256 characters, got {value!r}"
        )


class Runner:
    """Runs one agent for one app over a session store.

    `models`, `tools` and `knowledge` add to what the agent itself provides (an agent with a
    `catalog()` method, like LLMAgent, brings its own). `resources` overrides what each run is
    granted; by default a run gets what the agent asks for (`agent.resources()`), or
    everything in the catalogue that its manifest's permissions allow. `meter` prices each
    run, checks budgets and rate limits before it starts, and records its usage (budgets.py).
    """

    def __init__(
        self,
        agent: Agent,
        *,
        store: SessionStore,
        app: str = "default",
        models: Sequence[ChatModel] = (),
        tools: Sequence[Any] = (),
        knowledge: Sequence[KnowledgeBase] = (),
        resources: Resources | None = None,
        busy_policy: BusyPolicy = "queue",
        timeout: float | None = None,
        kv: KeyValueStore | None = None,
        artifacts: ArtifactStore | None = None,
        memory: LongTermMemory | None = None,
        leases: LeaseStore | Literal["auto", "local"] = "auto",
        lease_seconds: float = LEASE_SECONDS,
        meter: Meter | None = None,
    ) -> None:
        if busy_policy not in BUSY_POLICIES:
            raise InvalidArgument(
                "busy_policy", f"must be one of {BUSY_POLICIES}, got {busy_policy!r}"
            )
        _check_id("app", app)
        self.agent = agent
        self.app = app
        self.store = store
        self.busy_policy: BusyPolicy = busy_policy
        self.timeout = timeout
        self.kv = kv if kv is not None else (store if isinstance(store, KeyValueStore) else None)
        self.artifacts = artifacts  # the sessions' files (host.artifacts, the artifact routes)
        catalog = catalog_of(models=models, tools=tools, knowledge=knowledge)
        agent_catalog = getattr(agent, "catalog", None)
        if callable(agent_catalog):
            catalog = agent_catalog().merged(catalog)
        self.catalog: Catalog = catalog
        self.resources = resources or resources_for(agent, self.catalog)
        if self.resources.storage is None and self.kv is not None:
            self.resources.storage = StorageResource(namespace=f"{self.app}/{agent.manifest.id}")
        if self.resources.artifacts is None and artifacts is not None:
            self.resources.artifacts = ArtifactsResource()
        # the users' long-term memory (`host.memory`): given, else the agent's own store
        self.memory = memory if memory is not None else agent_memory(agent)
        if self.resources.memory is None and self.memory is not None:
            self.resources.memory = MemoryResource()
        self._grants = Grants.from_resources(self.resources)
        # `auto`: the store's leases when it has them (replicas), else this process's locks
        self.leases = (
            store_leases(store) if leases == "auto" else None if leases == "local" else leases
        )
        # the store checks its own leases' tokens on append (ports/leases.py): fenced writes
        self._fenced = leases == "auto" and self.leases is not None and fences_appends(store)
        self._locks = SessionLocks(
            self.leases,
            lease_seconds=lease_seconds,
            renew_seconds=min(RENEW_SECONDS, lease_seconds / 4),
        )
        self._history = HistoryCache()
        self._active: dict[str, ActiveRun] = {}
        self._info: dict[str, RunInfo] = {}
        self._author = agent.manifest.name
        # owner records, lease, dead runs: recovery.py
        self.recovery = Recovery(self.kv, leased=self.leases is not None)
        self.meter = meter  # pricing, budgets, usage records: budgets.py

    # ---- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Runner:
        gc_tuning.tune()  # once per process: the GC settings for many runs (gc_tuning.py)
        await self.recovery.start()
        enter = getattr(self.agent, "__aenter__", None)
        if enter is not None:
            try:
                await enter()
            except BaseException:
                await self.recovery.stop()
                raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the agent (and through it the models it opened). The store is the caller's."""
        try:
            close = getattr(self.agent, "aclose", None)
            if close is not None:
                await close()
        finally:
            await self.recovery.stop()

    # ---- running --------------------------------------------------------------------------

    async def run(
        self,
        user_id: str,
        session_id: str | None,
        message: str | Message | ApprovalAnswer,
        *,
        run_id: str | None = None,
        busy_policy: BusyPolicy | None = None,
        timeout: float | None = None,
        state_delta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        adapter: dict[str, Any] | None = None,
        source: EventSource | None = None,
        delivery: DeliverySection | None = None,
        new: bool = False,
    ) -> AsyncGenerator[Event, None]:
        """Run the agent on `message` in the session; yields events as they happen.

        `session_id=None` starts a new session (its id is on every event: `event.session_id`).
        `new=True` says `session_id` is an id the caller just made for a new session (the
        server's run in a new session): it is created with the message in one write, without
        a `get` first; should it exist after all, the run goes on in it as without `new`.
        `timeout` (seconds) is the run's deadline. `busy_policy` overrides the runner's for
        this message. An `ApprovalAnswer` as the message answers a pending approval in the
        session (see `answer_approval`).
        """
        _check_id("user_id", user_id)
        fresh = session_id is None  # a new session: nothing to get, nothing to recover
        named_new = new and not fresh and not isinstance(message, ApprovalAnswer)
        if session_id is None:
            session_id = new_session_id()
        _check_id("session_id", session_id)
        answer: _Answering | None = None
        if isinstance(message, ApprovalAnswer):
            if fresh:
                raise InvalidArgument("session_id", "an approval is answered in its session")
            answer = _Answering(message)
            msg = Message(role="user")
        else:
            msg = as_message(message)
            if msg.role != "user" or not msg.parts:
                raise InvalidArgument("message", "must be a non-empty user message")
        policy = busy_policy or self.busy_policy
        if policy not in BUSY_POLICIES:
            raise InvalidArgument("busy_policy", f"must be one of {BUSY_POLICIES}, got {policy!r}")
        run_id = run_id or new_run_id()
        if run_id in self._active:
            raise InvalidArgument("run_id", f"run {run_id!r} is already active")
        key = SessionKey(self.app, user_id, session_id)
        if self.artifacts is not None:
            msg = await keep_uploads(self.artifacts, key, msg)  # attachments become artifacts
        seconds = timeout if timeout is not None else self.timeout
        if self.meter is not None:  # budgets and rate limits: refused before anything is stored
            await self.meter.check(key)
        async with self._locks.hold(
            key, policy=policy, run_id=run_id, interrupt=self._interrupt
        ) as lease:
            fence = lease if self._fenced else None
            received: Event | None = None
            if named_new:  # as fresh, unless the session exists after all
                received = self._received(run_id, key, msg, state_delta)
                try:
                    session = await self._create(key, received)
                except SessionExists:
                    received = None
            if fresh:
                received = self._received(run_id, key, msg, state_delta)
                session = await self._create(key, received)
            elif received is None:
                try:
                    session = await self._load(key, fence)
                except LeaseLost as exc:  # another replica took the session before any write
                    yield self._lease_lost(run_id, key, exc)
                    return
                if answer is not None:
                    answer.target, answer.others = approval.check_answer(session, answer.answer)
            deadline = time.time() + seconds if seconds is not None else None
            active = ActiveRun(
                run_id=run_id,
                session=session,
                grants=self._grants,
                catalog=self.catalog,
                history=self._history,
                kv=self.kv,
                deadline_at=deadline,
                key=key,
                artifacts=self.artifacts,
                fence=fence,
                memory=self.memory,
                step_scope=StepScope(asyncio.get_running_loop(), deadline),
            )
            self._active[run_id] = active
            self._info[run_id] = RunInfo(
                run_id=run_id,
                app=self.app,
                user_id=user_id,
                session_id=session_id,
                agent=self._author,
                started_at=active.started,
                last_event_at=active.started,
                event_count=0,
            )
            # the agent is driven right here, not in a generator of its own: every event
            # passes one generator layer (this one) between the agent and the caller
            outcome = _Outcome()
            agen: Any = None
            try:
                with tracing.run_span(run_id, self._author, session_id):
                    opening = [received] if received is not None else []
                    if received is None:
                        try:
                            opening = await self._receive(active, msg, state_delta, answer)
                        except LeaseLost as exc:  # lost at its first write: nothing is stored
                            self._store_failed(active, outcome, exc)
                            for event in await self._finish(active, outcome, None):
                                yield event
                            return
                        received = opening[-1]
                    try:
                        for event in opening:
                            yield event
                        agen = self._start(active, received, msg, config, adapter, source, delivery)
                        if answer is not None:
                            agen = self._continue(active, agen, answer)
                        step = self._step
                        while (events := await step(active, agen, outcome)) is not None:
                            for event in events:
                                yield event
                    except (GeneratorExit, asyncio.CancelledError):
                        # the caller stopped iterating (disconnect, task cancelled): record it
                        outcome.fail(
                            "cancelled", "the caller stopped reading the run", status="cancelled"
                        )
                        await self._finish(active, outcome, agen)
                        raise
                    for event in await self._finish(active, outcome, agen):
                        yield event
            finally:
                active.finished = True
                del self._active[run_id]
                del self._info[run_id]
                active.release()
                if active.done is not None:  # someone waits (`wait`): most runs have none
                    active.done.set()

    async def _load(self, key: SessionKey, fence: Lease | None = None) -> Session:
        session = await self.store.get(key)
        if session is None:
            return await self.store.create(key)
        await self.recovery.close_dangling(self.store, session, self._active, fence=fence)
        return session

    def _append(self, active: ActiveRun, events: list[Event]) -> Awaitable[None]:
        """Store a run's events; fenced by its lease when the store checks tokens."""
        if active.fence is None:
            return self.store.append(active.session, events)
        return self.store.append(active.session, events, fence=active.fence)  # type: ignore[call-arg]

    async def _create(self, key: SessionKey, received: Event) -> Session:
        """A new session with the user's message stored in it: one write when the store can
        (`create_with_events(key, events)`, optional), else create and append."""
        create_with = getattr(self.store, "create_with_events", None)
        if create_with is not None:
            session: Session = await create_with(key, [received])
            return session
        session = await self.store.create(key)
        await self.store.append(session, [received])
        return session

    def _received(
        self, run_id: str, key: SessionKey, msg: Message, state_delta: dict[str, Any] | None
    ) -> Event:
        """The run's first event: the user's message."""
        return run_event(
            "message.received",
            run_id,
            "user",
            key,
            message=msg,
            state_delta=state_delta or None,
            data={"agent": self._author, "owner": self.recovery.owner},
        )

    async def _receive(
        self,
        active: ActiveRun,
        msg: Message,
        state_delta: dict[str, Any] | None,
        answer: _Answering | None = None,
    ) -> list[Event]:
        """Store the run's first event in an existing session: the user's message (after
        expiring the approvals it leaves unanswered), or the answer to an approval."""
        session = active.session
        active.cursor = session.last_seq
        if answer is not None:
            return await self._receive_answer(active, answer, state_delta)
        received = self._received(active.run_id, active.key, msg, state_delta)
        events = session.events
        if events and is_paused(events[-1]):  # a new message instead of answers
            expired = approval.expire_events(session, active.run_id, active.key)
            await self._append(active, [*expired, received])
            await approval.index_remove(self.kv, approval.ids_of(expired))
            return [*expired, received]
        await self._append(active, [received])
        return [received]

    async def _receive_answer(
        self, active: ActiveRun, answer: _Answering, state_delta: dict[str, Any] | None
    ) -> list[Event]:
        target = answer.target
        assert target is not None
        reply = answer.answer
        received = approval.answered_event(
            target,
            "approved" if reply.approve else "rejected",
            active.run_id,
            active.key,
            answer=reply,
            extra={"agent": self._author, "owner": self.recovery.owner},
        )
        if state_delta:
            received.state_delta = state_delta
        await self._append(active, [received])
        await approval.index_remove(self.kv, [reply.approval_id])
        return [received]

    def _continue(self, active: ActiveRun, agen: Any, answer: _Answering) -> Any:
        """The run an answer starts (engine/approval.py), instead of the agent's own run."""
        assert answer.target is not None and active.context is not None
        assert active.gate is not None and active.gate.host is not None
        active.context.event.event_type = "approval.answered"
        return approval.continue_after(
            self.agent, active.gate.host, answer.target, answer.answer, answer.others, then=agen
        )

    def _start(
        self,
        active: ActiveRun,
        received: Event,
        msg: Message,
        config: dict[str, Any] | None,
        adapter: dict[str, Any] | None,
        source: EventSource | None,
        delivery: DeliverySection | None,
    ) -> AsyncIterator[ResultBatch]:
        """Build the run's context and start the agent on it."""
        ctx = build_context(
            run_id=active.run_id,
            event_id=received.id,
            session=active.session,
            message=msg,
            resources=self.resources,
            deadline_at=active.deadline_at,
            trace_id=tracing.current_trace_id(),
            source=source,
            delivery=delivery,
            config=config or {},
            adapter=adapter,
            cursor=active.cursor,
        )
        active.context = ctx
        return self.agent.run(ctx, run_host(active))

    async def _step(self, active: ActiveRun, agen: Any, outcome: _Outcome) -> list[Event] | None:
        """Ask the agent for its next result (or batch) under the run's deadline/cancel scope;
        store the finished events and return what to yield, or None when the run has ended
        (the last batch is then in `outcome.tail`)."""
        if active.cancel_reason is not None:
            outcome.fail(active.cancel_code, active.cancel_reason, status=active.cancel_code)
            return None
        scope = active.step_scope
        assert scope is not None
        try:
            with scope:  # the run's deadline, and `cancel()`: TimeoutError (core/deadlines.py)
                item = await anext(agen)
            if scope.expired():  # the agent swallowed the scope's cancellation: it still ends
                self._timed_out(active, outcome)
                return None
        except StopAsyncIteration:
            return None
        except AgentHostError as exc:
            outcome.fail(exc.code, exc.message, retryable=exc.retryable)
            return None
        except Exception as exc:
            if isinstance(exc, TimeoutError) and scope.expired():  # the scope's: deadline, cancel
                self._timed_out(active, outcome)
                return None
            # an agent's own TimeoutError (a wait of its own ran out) is its failure
            log.exception("agent %s failed in run %s", self._author, active.run_id)
            outcome.fail("runner.error", f"{type(exc).__name__}: {exc}")
            return None
        if type(item) is MessageDelta and not active.queued_results:  # the hot path
            info = self._info[active.run_id]
            info.event_count += 1
            info.last_event_at = time.time()
            return [delta_event(item, active.run_id, self._author, active.key)]
        batch: list[RunResult] = item if isinstance(item, list) else [item]
        if active.queued_results:
            batch = [*active.queued_results, *batch]
            active.queued_results.clear()
        events, ended = self._convert(batch, active, outcome)
        if ended:
            outcome.tail = events
            return None
        if events:
            stored = [e for e in events if not e.partial]
            if stored:
                try:
                    await self._append(active, stored)
                except StoreError as exc:
                    self._store_failed(active, outcome, exc)
                    return None
            info = self._info[active.run_id]
            info.event_count += len(events)
            info.last_event_at = time.time()
        return events

    @staticmethod
    def _timed_out(active: ActiveRun, outcome: _Outcome) -> None:
        """The step's scope fired: a cancel (or interrupt) asked for, else the deadline."""
        if active.cancel_requested():
            outcome.fail(
                active.cancel_code, active.cancel_reason or "cancelled", status=active.cancel_code
            )
        else:
            seconds = None if active.deadline_at is None else active.deadline_at - active.started
            outcome.fail(
                "deadline_exceeded",
                f"the run passed its deadline ({seconds:.3g}s)"
                if seconds is not None
                else "the run passed its deadline",
                retryable=True,
            )

    def _convert(
        self, batch: list[RunResult], active: ActiveRun, outcome: _Outcome
    ) -> tuple[list[Event], bool]:
        events: list[Event] = []
        author = self._author
        run_id = active.run_id
        key = active.key
        for result in batch:
            kind = type(result)
            if kind is RunCompleted:
                assert isinstance(result, RunCompleted)
                outcome.finish_reason = result.finish_reason
                if result.usage is not None and outcome.usage.requests == 0:
                    outcome.usage = result.usage
                final = result.final()
                if final is not None:
                    done = result_event(final, run_id, author, key)
                    assert done is not None
                    events.append(done)
                return events, True
            if kind is RunFailed:
                assert isinstance(result, RunFailed)
                outcome.fail(result.code, result.error, retryable=result.retryable)
                return events, True
            event = result_event(result, run_id, author, key)
            if event is None:
                continue
            if event.usage is not None:
                outcome.usage = outcome.usage + event.usage
            if event.type == "state.updated" and event.state_delta:
                self._apply_temp(event, active)
                if not event.state_delta:
                    continue
            events.append(event)
        return events, False

    @staticmethod
    def _apply_temp(event: Event, active: ActiveRun) -> None:
        assert event.state_delta is not None
        for key in [k for k in event.state_delta if k.startswith("temp:")]:
            active.temp_state[key[5:]] = event.state_delta.pop(key)
        for key in event.state_delta:
            active.pending_state.pop(key, None)

    async def _finish(self, active: ActiveRun, outcome: _Outcome, agen: Any) -> list[Event]:
        """Close the agent, then store the last batch and the terminal event together."""
        try:
            if agen is not None:
                await agen.aclose()
        except Exception:  # an agent failing while closing must not lose the terminal event
            log.exception("agent %s failed while closing run %s", self._author, active.run_id)
        usage = outcome.usage if self.meter is None else self.meter.price(outcome.usage)
        data: dict[str, Any] = {
            "status": outcome.status,
            # ms to 3 decimals: one integer rounding (round(x, 3) goes through decimal text)
            "duration_ms": round((time.time() - active.started) * 1_000_000) / 1000,
            "cost": usage.cost,
        }
        if outcome.code is None:
            data["finish_reason"] = outcome.finish_reason
            if outcome.finish_reason == FINISH_REASON:  # waits for approvals: core/approvals.py
                data["status"] = PAUSED
                await approval.index_add(self.kv, outcome.tail)
        terminal = run_event(
            "run.completed" if outcome.code is None else "run.failed",
            active.run_id,
            "runner",
            active.key,
            usage=usage,
            error=None
            if outcome.code is None
            else ErrorInfo(code=outcome.code, message=outcome.message, retryable=outcome.retryable),
            data=data,
        )
        active.finished = True
        tracing.record_run(terminal)
        if outcome.store_failed:  # the client still learns that the run failed, and why
            if self.meter is not None:
                await self.meter.record(terminal, active.started)
            return [terminal]
        events = [*outcome.tail, terminal]
        try:
            await self._append(active, [e for e in events if not e.partial])
        except StoreError as exc:
            self._store_failed(active, outcome, exc)
            return await self._finish(active, outcome, None)
        if self.meter is not None:  # the usage record, right after the terminal event
            await self.meter.record(terminal, active.started)
        return events

    def _store_failed(self, active: ActiveRun, outcome: _Outcome, exc: StoreError) -> None:
        """The store refused a write: the run fails with `store_error`; what was not stored
        is never yielded, and nothing is reported completed."""
        log.error("run %s: the session store failed: %s", active.run_id, exc.message)
        code = exc.code if isinstance(exc, LeaseLost) else "store_error"
        outcome.fail(code, exc.message, retryable=True)
        outcome.store_failed = True
        outcome.tail = []

    @staticmethod
    def _lease_lost(run_id: str, key: SessionKey, exc: LeaseLost) -> Event:
        """The (unstored) end of a run whose session another replica took before it began."""
        error = ErrorInfo(code=exc.code, message=exc.message, retryable=True)
        data = {"status": "failed", "stored": False}
        return new_event("run.failed", run_id, "runner", key, error=error, data=data)

    # ---- control --------------------------------------------------------------------------

    def _interrupt(self, run_id: str) -> None:
        active = self._active.get(run_id)
        if active is not None:
            active.request_cancel("a newer message interrupted it", code="interrupted")

    def cancel(
        self, run_id: str, reason: str = "cancelled by request", *, code: str = "cancelled"
    ) -> None:
        """Stop an active run: its model call and tools are cancelled promptly and it ends
        with `run.failed` with this `code` (`cancelled`; a server shutting down uses
        `interrupted`). Raises RunNotFound when it is not active here."""
        active = self._active.get(run_id)
        if active is None:
            raise RunNotFound(run_id)
        active.request_cancel(reason, code=code)

    async def wait(self, run_id: str) -> None:
        """Wait until an active run has finished (returns at once if it is not active)."""
        active = self._active.get(run_id)
        if active is not None:
            if active.done is None:
                active.done = asyncio.Event()
            await active.done.wait()

    def active_runs(self) -> list[RunInfo]:
        return list(self._info.values())

    def run_status(self, run_id: str) -> RunInfo | None:
        return self._info.get(run_id)

    # ---- sessions -------------------------------------------------------------------------

    async def get_session(self, user_id: str, session_id: str) -> Session:
        """A session with its events; a run left open by a killed process is closed first."""
        key = SessionKey(self.app, user_id, session_id)
        session = await self.store.get(key)
        if session is None:
            raise SessionNotFound(session_id)
        if session.events and not session.events[-1].is_terminal:
            async with self._locks.try_hold(key, self.recovery.holder) as free:
                if free:
                    if self.leases is not None:  # another process may have written since
                        session = await self.store.get(key) or session
                    await self.recovery.close_dangling(self.store, session, self._active)
        return session

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        return await self.store.list(app=self.app, user_id=user_id)

    async def delete_session(self, user_id: str, session_id: str) -> None:
        key = SessionKey(self.app, user_id, session_id)
        if await self.store.get(key) is None:
            raise SessionNotFound(session_id)
        self._history.forget(key)
        await self.store.delete(key)
        if self.artifacts is not None:  # its files go with it (not the user's `user:` ones)
            await delete_session_artifacts(self.artifacts, key)

    # ---- approvals (engine/approval.py) -----------------------------------------------------

    async def pending_approvals(
        self, user_id: str, session_id: str | None = None
    ) -> list[PendingApproval]:
        """The tool calls waiting for this user's answer (in one session, or in all of
        them), oldest first."""
        return await approval.pending_for_user(self.store, self.kv, self.app, user_id, session_id)

    async def locate_approval(self, user_id: str, approval_id: str) -> PendingApproval:
        """Where approval `approval_id` is (its session, run and call), answered or not.
        Raises ApprovalNotFound, or ApprovalForbidden when it is another user's."""
        return await approval.locate(self.store, self.kv, self.app, user_id, approval_id)

    async def answer_approval(
        self,
        user_id: str,
        approval_id: str,
        *,
        approve: bool,
        arguments: dict[str, Any] | None = None,
        message: str | None = None,
        session_id: str | None = None,
        **run_kwargs: Any,
    ) -> AsyncGenerator[Event, None]:
        """Answer a pending approval; yields the events of the run the answer starts (in the
        approval's session: `approval.answered`, the call and its result, then the agent
        going on), as `run` does. `arguments` (approving only) replace the model's;
        `message` is a note the model reads (why it was rejected). `run_kwargs` are those
        of `run` (run_id, timeout, busy_policy, ...). Raises ApprovalNotFound,
        ApprovalForbidden, ApprovalAnswered or ApprovalRunFinished before storing anything.
        """
        if session_id is None:
            session_id = (await self.locate_approval(user_id, approval_id)).session_id
        answer = ApprovalAnswer(
            approval_id=approval_id, approve=approve, arguments=arguments, message=message
        )
        async with aclosing(self.run(user_id, session_id, answer, **run_kwargs)) as events:
            async for event in events:
                yield event

    async def ask(
        self, user_id: str, session_id: str | None, message: str | Message, **run_kwargs: Any
    ) -> str:
        """Run `message` to its end and return the reply's text, in one call.

        `run_kwargs` are those of `run` (timeout, state_delta, ...). Raises `RunFailedError`
        (its `.code` is the run's error code, e.g. 'model_unavailable') when the run fails.
        """
        events = [event async for event in self.run(user_id, session_id, message, **run_kwargs)]
        return reply_text(events)


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    """All events of a run, in a list (for tests and scripts)."""
    return [event async for event in events]


def final_text(events: Sequence[Event]) -> str:
    """The text of the last completed assistant message."""
    for event in reversed(events):
        if event.type == "message.completed" and event.message is not None and event.message.text:
            return event.message.text
    return ""


class RunFailedError(RunError):
    """A run ended with `run.failed` (see `Runner.ask`): `.code`, `.retryable` and `.run_id`
    are the run's, and the message is the run's error message."""

    def __init__(self, run_id: str, error: ErrorInfo | None) -> None:
        code = error.code if error is not None else "error"
        detail = error.message if error is not None else "no error was recorded"
        super().__init__(f"Run {run_id} failed ({code}): {detail}")
        self.code = code
        self.retryable = error.retryable if error is not None else False
        self.run_id = run_id


def reply_text(events: Sequence[Event]) -> str:
    """The final text of a run's events; raises RunFailedError when the run failed."""
    terminal = events[-1] if events else None
    if terminal is not None and terminal.type == "run.failed":
        raise RunFailedError(terminal.run_id, terminal.error)
    return final_text(events)
