"""Runs the server drives: a background task per run, a bounded replay buffer, and readers.

Cancellation and disconnects, in one place:

- A run does not belong to the HTTP request that started it. `RunManager.start` spawns a task
  in the server's TaskGroup (owned by the app's lifespan) that drains `Runner.run` into a
  `RunChannel`; requests only READ the channel. So a client that goes away does not stop the
  run: it goes on to completion and every event is stored (the runner stores each one before
  yielding it). With `on_disconnect="cancel"` the reader's cleanup calls `Runner.cancel`.
- `RunManager.cancel` (the cancel route) goes through `Runner.cancel`: the model call and tools
  are cancelled at once and the run ends with `run.failed` (code `cancelled`).
- Shutdown: `begin_shutdown()` refuses new runs (503) and, `grace` seconds later, interrupts
  the runs still going (they end `run.failed`, code `interrupted`, "the server is shutting
  down", which their open streams send before they end); `shutdown(grace)` (the lifespan's
  end) waits for what is left of the grace, interrupts the rest, then cancels any task still
  left (one waiting for a session lock), and the TaskGroup reaps them. Nothing is
  fire-and-forget.

Frame positions (`Last-Event-ID`): a stored event is at `(seq, 0)` (its `seq` in the session)
and its id is `"seq"`; a partial event (a `message.delta`, never stored) is at `(s, k)`, id
`"s.k"`: the k-th partial after the stored event `s`; the `error` frame before a `run.failed`
has the position just before it (`error_position`). Positions only grow within a run. A
reader resumes after any position: from the channel's buffer while the run is active here
(the newest `replay_buffer` to 2x that many events), and from the store for what the buffer
no longer holds or once the run has finished (stored events only: the deltas of a finished
run are gone, its `message.completed` events carry the whole text).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from agenthost.core.approvals import ApprovalAnswer
from agenthost.core.errors import AgentHostError, InvalidArgument, RunCancelled, RunNotFound
from agenthost.core.events import TERMINAL_TYPES, ErrorInfo, Event, summarize_runs
from agenthost.core.ids import new_id, new_run_id
from agenthost.core.messages import Message
from agenthost.core.timers import RearmingTimer
from agenthost.engine import tracing
from agenthost.engine.runner import Runner
from agenthost.ports.protocol import EventSource
from agenthost.ports.streams import RunStreams
from agenthost.server.errors import RunFinished, ServiceUnavailable
from agenthost.server.logs import current_run

log = logging.getLogger("agenthost.server.runs")

OnDisconnect = Literal["continue", "cancel"]
Position = tuple[int, int]
START: Position = (-1, 0)
_BUILTIN_APIS = frozenset({"native", "openai.chat", "openai.responses"})
_LAST_EVENT_ID = re.compile(r"(\d{1,18})(?:\.(\d{1,9}))?")


def parse_event_id(value: str, *, field: str = "Last-Event-ID") -> Position:
    """`"17"` -> (17, 0), `"17.3"` -> (17, 3); InvalidArgument otherwise."""
    match = _LAST_EVENT_ID.fullmatch(value.strip())
    if match is None:
        raise InvalidArgument(
            field,
            f"{value[:80]!r} is not an event id of this server: expected 'N' or 'N.K' (the "
            f"id: of an SSE frame, e.g. '17' or '17.3')",
        )
    return int(match.group(1)), int(match.group(2) or 0)


def format_position(pos: Position) -> str:
    return str(pos[0]) if pos[1] == 0 else f"{pos[0]}.{pos[1]}"


ERROR_SLOT = 999_999_999  # the `k` of the `error` frame of a stored run.failed (see below)


def error_position(failed: Position) -> Position:
    """The position of the `error` frame sent right before a `run.failed` at `failed`: the
    last slot before it, so every frame has its own id and a client that resumes from the
    frame before the error gets it again. A stored `run.failed` is at `(S, 0)`: its error is
    at `(S-1, 999999999)` (no run has that many deltas); an unstored one (`(s, k)`, the runner
    could not store it) is pushed with a free slot before it (`(s, k-1)`)."""
    seq, k = failed
    return (seq - 1, ERROR_SLOT) if k == 0 else (seq, k - 1)


@dataclass(frozen=True, slots=True)
class Frame:
    """One event as a stream sends it, with its position."""

    pos: Position
    event: Event

    @property
    def id(self) -> str:
        return format_position(self.pos)


@dataclass(slots=True, kw_only=True)
class RunRequest:
    """What a route asks for; also what before/after-run hooks see."""

    agent: str
    user_id: str
    session_id: str
    message: Message | ApprovalAnswer  # an answer to an approval starts the run that goes on
    api: str = "native"  # native | openai.chat | openai.responses | a router's own name
    timeout: float | None = None
    state_delta: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    busy_policy: Literal["queue", "reject", "interrupt"] | None = None
    end_user: str | None = None  # the OpenAI `user` field: the client app's end user (logs)
    run_id: str = field(default_factory=new_run_id)
    new_session: bool = False  # session_id was just made for this run: Runner.run(new=True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class RunChannel:
    """The events of one active run, as the drain task pushes them, for any number of readers.

    The buffer keeps the newest `capacity` events (up to twice that before it is trimmed)."""

    def __init__(
        self,
        request: RunRequest,
        runner: Runner,
        *,
        capacity: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # `loop`: the running loop, when the caller has it (each get_running_loop() is a
        # getpid system call in CPython 3.11)
        loop = loop or asyncio.get_running_loop()
        self.request = request
        self.runner = runner
        self.run_id = request.run_id
        self.started_at = time.time()
        self.done = False
        self.terminal: Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.began = False  # its first event is out (the run holds its session)
        # what the request that starts the run awaits: set with the first event, or the error
        # that stopped the run before it; cancelled if that request goes away first (the run
        # goes on: `began`, not this, says whether it started). An error set on it is marked
        # retrieved at once (`RunManager._not_started`): if that request is gone, nobody
        # retrieves it, and asyncio must not log "exception was never retrieved"
        self.started: asyncio.Future[None] = loop.create_future()
        self._capacity = capacity
        self._frames: list[Frame] = []
        self._base = 0  # absolute index of _frames[0]
        self._last: Position = START
        self._loop = loop
        self._waiters: list[asyncio.Future[bool]] = []  # readers waiting for the next frame
        self.readers = 0  # requests following the run live (streams open on it)
        self.published = 0  # absolute index of the first frame not yet in the run streams

    # ---- writer ---------------------------------------------------------------------------

    def push(self, event: Event) -> Frame:
        if event.seq > 0 and not event.partial:
            pos: Position = (event.seq, 0)
        else:
            # an unstored run.failed leaves the slot before it to its `error` frame
            step = 2 if event.type == "run.failed" else 1
            pos = (max(self._last[0], 0), self._last[1] + step)
        self._last = pos
        frame = Frame(pos, event)
        self._frames.append(frame)
        if len(self._frames) > 2 * self._capacity:
            drop = len(self._frames) - self._capacity
            del self._frames[:drop]
            self._base += drop
        if event.type in TERMINAL_TYPES:
            self.terminal = event
        if self._waiters:  # events pushed in one turn: the reader was woken by the first
            self._notify()
        return frame

    def close(self) -> None:
        self.done = True
        self._notify()

    def _notify(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    # ---- readers --------------------------------------------------------------------------

    @property
    def base(self) -> int:
        return self._base

    @property
    def end(self) -> int:
        return self._base + len(self._frames)

    @property
    def last_position(self) -> Position:
        return self._last

    def first_position(self) -> Position | None:
        return self._frames[0].pos if self._frames else None

    def index_after(self, pos: Position) -> int:
        """The absolute index of the first buffered frame after `pos`."""
        return self._base + bisect.bisect_right(self._frames, pos, key=lambda f: f.pos)

    def frames_from(self, index: int) -> list[Frame]:
        return self._frames[max(index - self._base, 0) :]

    async def wait(
        self, index: int, timeout: float | None, *, ping: PingTimer | None = None
    ) -> bool:
        """Wait until there is a frame at `index` or the run is done; False on timeout.
        `ping`: the reader's own timer for the timeout, kept from one wait to the next."""
        if self.end > index or self.done:
            return True
        if ping is not None:
            return await self._wait_pinged(ping)
        # a future and a timer, not `asyncio.timeout` around an Event: a stream waits here
        # for every batch of its run, and the timeout's context (task, reschedule, exception
        # on expiry) cost more than the wait itself
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiters.append(waiter)
        timer = None if timeout is None else self._loop.call_later(timeout, _expire, waiter)
        try:
            woken = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter.cancelled() or not waiter.done() or not waiter.result():  # not woken
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return woken

    async def _wait_pinged(self, ping: PingTimer) -> bool:
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiters.append(waiter)
        ping.waiter = waiter
        ping.arm(ping.loop.time() + ping.timeout)
        try:
            woken = await waiter
        finally:
            ping.waiter = ping.deadline = None  # no wait going on: the timer lapses if it fires
            if waiter.cancelled() or not waiter.done() or not waiter.result():  # not woken
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return woken


class PingTimer(RearmingTimer):
    """One reader's keep-alive timer: `wait` answers False once a wait has lasted `timeout`
    seconds. One timer for all the waits of a stream, not one per wait (a timer made and
    cancelled per wait was 2 µs of uvloop's, three to four times a run): a wait sets the
    deadline, the timer re-arms itself while the deadline is later, and lapses when no wait is
    going on (`RearmingTimer`). `close()` it when the stream ends."""

    __slots__ = ("timeout", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        super().__init__(loop, self._expire)
        self.timeout = timeout
        self.waiter: asyncio.Future[bool] | None = None  # the wait going on

    def _expire(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)


def _run_span(request: RunRequest) -> contextlib.AbstractContextManager[Any]:
    """The run's span (nothing to make while tracing is off)."""
    if not tracing.enabled():
        return contextlib.nullcontext()
    attributes = {
        "agenthost.run_id": request.run_id,
        "agenthost.api": request.api,
        "gen_ai.agent.name": request.agent,
        "gen_ai.conversation.id": request.session_id,
    }
    if request.end_user is not None:
        attributes["enduser.id"] = request.end_user
    return tracing.span(f"agenthost run {request.agent}", **attributes)


def _log_started(request: RunRequest) -> None:
    log.info(
        "run started",
        extra={
            "agent": request.agent,
            "user_id": request.user_id,
            "session_id": request.session_id,
            "api": request.api,
            "end_user": request.end_user,
        },
    )


def _log_finished(request: RunRequest, terminal: Event | None) -> None:
    data = (terminal.data or {}) if terminal is not None else {}
    log.info(
        "run finished",
        extra={
            "agent": request.agent,
            "status": data.get("status", "not started"),
            "duration_ms": data.get("duration_ms"),
            "error_code": terminal.error.code if terminal and terminal.error else None,
        },
    )


BeforeRun = Callable[[RunRequest], Awaitable[None] | None]
AfterRun = Callable[[RunRequest, Event | None], Awaitable[None] | None]
RunObserver = Callable[[RunRequest, Event], None]


async def _call(hook: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = hook(*args)
    if result is not None:
        await result


class RunManager:
    """Starts runs as tasks of the server's TaskGroup and keeps their channels while active."""

    def __init__(
        self,
        group: asyncio.TaskGroup,
        *,
        capacity: int = 1024,
        before_run: Sequence[BeforeRun] = (),
        after_run: Sequence[AfterRun] = (),
        observers: Sequence[RunObserver] = (),
        grace: float | None = None,
        streams: RunStreams | None = None,
    ) -> None:
        self._group = group
        self.streams = streams  # every frame is published there too (server/cluster.py)
        self._grace = grace
        self._loop = asyncio.get_running_loop()
        self._deadline: asyncio.TimerHandle | None = None
        self._capacity = capacity
        self._before = list(before_run)
        self._after = list(after_run)
        self._observers = list(observers)
        self._active: dict[str, RunChannel] = {}
        self.closing = False
        self._closing_since: float | None = None
        self._stopping: asyncio.Task[None] | None = None

    def active(self) -> list[RunChannel]:
        return list(self._active.values())

    def get(self, run_id: str) -> RunChannel | None:
        return self._active.get(run_id)

    async def start(self, request: RunRequest, runner: Runner) -> RunChannel:
        """Start a run in the background; returns once its first event (the stored user
        message) is out, or raises what stopped it before that (a 4xx error: bad input, a
        busy session with the 'reject' policy, a before-run hook's refusal)."""
        await self.admit(request)
        channel = RunChannel(request, runner, capacity=self._capacity, loop=self._loop)
        if self.streams is not None:
            await self.streams.describe(
                request.run_id,
                {
                    "agent": request.agent,
                    "user_id": request.user_id,
                    "session_id": request.session_id,
                    "status": "running",
                },
            )
        self._active[request.run_id] = channel
        channel.task = self._group.create_task(
            self._drain(channel), name=f"agenthost run {request.run_id}"
        )
        await channel.started  # no shield: a request gone cancels this future, not the run
        return channel

    async def admit(self, request: RunRequest) -> None:
        """Refuse a run if the server is closing or a before-run hook says no; `start` does
        this first, and a background run is admitted here before it is sent to a worker."""
        if self.closing:
            raise ServiceUnavailable("The server is shutting down; retry on another instance.")
        for hook in self._before:
            await _call(hook, request)

    async def _drain(self, channel: RunChannel) -> None:
        """The run's task: drive the runner into the channel, in a span, logged."""
        request = channel.request
        current_run.set(request.run_id)
        with _run_span(request):
            if log.isEnabledFor(logging.INFO):
                _log_started(request)
            try:
                await self._pump(channel)
            finally:
                if self.streams is not None:
                    await self._publish(channel)  # an unstored run.failed, say
                if not channel.began:
                    self._not_started(channel, self._cancelled_before_start(request.run_id))
                self._active.pop(request.run_id, None)
                channel.close()
                terminal = channel.terminal
                tracing.record_run(terminal)
                if log.isEnabledFor(logging.INFO):
                    _log_finished(request, terminal)
                if self._after:
                    await self._after_run(channel)

    async def _pump(self, channel: RunChannel) -> None:
        request = channel.request
        platform = "api" if request.api in _BUILTIN_APIS else request.api
        events = channel.runner.run(
            request.user_id,
            request.session_id,
            request.message,
            run_id=request.run_id,
            busy_policy=request.busy_policy,
            timeout=request.timeout,
            state_delta=request.state_delta,
            config=request.config,
            source=EventSource(
                platform=platform, conversation_id=request.session_id, sender_id=request.user_id
            ),
            new=request.new_session,
        )
        observers = self._observers
        try:
            try:  # what `aclosing` does, without its two coroutine calls a run
                async for event in events:
                    if not channel.began:
                        channel.began = True
                        if not channel.started.done():
                            channel.started.set_result(None)
                    channel.push(event)
                    if self.streams is not None:
                        await self._publish(channel)
                    for observe in observers:  # `_observe`, without a call an event
                        try:
                            observe(request, event)
                        except Exception:  # metrics must never break a run
                            log.exception("run observer %r failed", observe)
            finally:
                await events.aclose()
        except asyncio.CancelledError:
            if not channel.began:
                self._not_started(channel, self._cancelled_before_start(request.run_id))
            raise
        except AgentHostError as exc:
            if not self._not_started(channel, exc):
                self._fail(channel, exc.code, exc.message, exc.retryable)
        except Exception as exc:  # a store or runner failure: never let it reach the TaskGroup
            log.exception("run %s failed outside the agent", request.run_id)
            if not self._not_started(channel, exc):
                self._fail(channel, "server_error", f"{type(exc).__name__}: {exc}", False)

    async def _publish(self, channel: RunChannel) -> None:
        """Publish the channel's new frames to the run streams (a failure is logged: the run
        goes on, its events are stored; readers elsewhere fall back to the store)."""
        assert self.streams is not None
        frames = channel.frames_from(channel.published)
        if not frames:
            return
        channel.published = channel.end
        try:
            await self.streams.publish(channel.run_id, [(f.pos, f.event) for f in frames])
        except Exception as exc:
            log.warning("run %s: could not publish %d events: %s", channel.run_id, len(frames), exc)

    def _cancelled_before_start(self, run_id: str) -> AgentHostError:
        if self.closing:
            return ServiceUnavailable("The server is shutting down; retry on another instance.")
        return RunCancelled(run_id, "cancelled before it started")

    def _observe(self, request: RunRequest, event: Event) -> None:
        for observe in self._observers:
            try:
                observe(request, event)
            except Exception:  # metrics must never break a run
                log.exception("run observer %r failed", observe)

    @staticmethod
    def _not_started(channel: RunChannel, exc: BaseException) -> bool:
        """Hand a failure before the first event to the waiting request (if it still waits);
        True if the run had not begun."""
        if channel.began:
            return False
        if not channel.started.done():
            channel.started.set_exception(exc)
            channel.started.exception()  # retrieved (its waiter, if any, still gets it raised)
        return True

    def _fail(self, channel: RunChannel, code: str, message: str, retryable: bool) -> None:
        """The runner itself broke mid-run (e.g. the store went away): end the stream with a
        `run.failed` event that could not be stored, so readers still end cleanly."""
        if channel.terminal is not None:
            return
        request = channel.request
        event = Event(
            id=new_id(),
            run_id=request.run_id,
            author="runner",
            type="run.failed",
            app=channel.runner.app,
            user_id=request.user_id,
            session_id=request.session_id,
            error=ErrorInfo(code=code, message=message, retryable=retryable),
            data={"status": "failed", "stored": False},
        )
        channel.push(event)
        self._observe(request, event)

    async def _after_run(self, channel: RunChannel) -> None:
        for hook in self._after:
            try:
                await _call(hook, channel.request, channel.terminal)
            except Exception:
                log.exception("after_run hook %r failed for run %s", hook, channel.run_id)

    def cancel(self, channel: RunChannel, reason: str, *, code: str = "cancelled") -> None:
        """Cancel an active run (RunFinished once its terminal event is out)."""
        if channel.done or channel.terminal is not None:
            status = (channel.terminal.data or {}).get("status") if channel.terminal else None
            raise RunFinished(channel.run_id, str(status or "finished"))
        try:
            channel.runner.cancel(channel.run_id, reason, code=code)
        except RunNotFound:
            if not channel.began and channel.task is not None:
                channel.task.cancel()  # still waiting for the session lock: nothing stored yet

    def on_left(
        self, channel: RunChannel | None, policy: OnDisconnect
    ) -> Callable[[], None] | None:
        """What a stream of `channel` calls if it ends before its frames did (the client
        left: `SSEResponse(on_left=...)`): before the run's terminal event was sent, apply the
        `on_disconnect` policy (`continue`: nothing; `cancel`: cancel it)."""
        if channel is None:
            return None

        def left() -> None:
            if channel.terminal is not None:
                return
            if policy == "cancel":
                log.info("client left run %s: cancelling it", channel.run_id)
                with contextlib.suppress(RunFinished):
                    self.cancel(channel, "the client disconnected")
            else:
                log.info("client left run %s: it goes on in the background", channel.run_id)

        return left

    # ---- shutdown -------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """Refuse new runs from now on (idempotent); `shutdown` counts its grace from here.
        With a `grace` given to the manager, the runs still going when it runs out are
        interrupted then, even while the server still waits for its connections to close: so
        every open stream gets its run's terminal `run.failed` (code `interrupted`) and ends
        cleanly. Safe to call from a signal handler of the loop's thread."""
        if not self.closing:
            self.closing = True
            self._closing_since = time.monotonic()
            if self._grace is not None:
                self._loop.call_soon_threadsafe(self._arm_deadline, self._grace)

    def _arm_deadline(self, grace: float) -> None:
        if self._deadline is None:
            self._deadline = self._loop.call_later(grace, self._interrupt_all)

    def _interrupt_all(self) -> None:
        still = self.active()
        if still:
            log.warning("interrupting %d runs still going at the end of the grace", len(still))
        for channel in still:
            with contextlib.suppress(RunFinished):
                self.cancel(channel, "the server is shutting down", code="interrupted")

    def request_shutdown(self, grace: float) -> None:
        """Refuse new runs and start `shutdown(grace)` in the background; safe from a signal
        handler or another thread. A server stopping on SIGTERM calls it at once, so that the
        runs still going after `grace` end with their terminal event while the HTTP server is
        still waiting for their streams (it cuts the streams left after its own timeout)."""
        self.begin_shutdown()
        self._loop.call_soon_threadsafe(self._start_shutdown, grace)

    def _start_shutdown(self, grace: float) -> None:
        if self._stopping is None:
            self._stopping = self._group.create_task(
                self.shutdown(grace), name="agenthost runs shutdown"
            )

    async def shutdown(self, grace: float) -> None:
        self.begin_shutdown()
        assert self._closing_since is not None
        left = max(0.0, grace - (time.monotonic() - self._closing_since))
        running = self.active()
        if running:
            log.info("waiting up to %.1fs for %d running runs", left, len(running))
            if not await self._wait_all(running, left):
                still = self.active()
                log.warning("cancelling %d runs still going after %.1fs", len(still), grace)
                for channel in still:
                    with contextlib.suppress(RunFinished):
                        self.cancel(channel, "the server is shutting down", code="interrupted")
                if not await self._wait_all(still, 5.0):
                    for channel in self.active():
                        if channel.task is not None:
                            channel.task.cancel()
        if self._deadline is not None:
            self._deadline.cancel()

    @staticmethod
    async def _wait_all(channels: list[RunChannel], timeout: float) -> bool:
        tasks = [c.task for c in channels if c.task is not None and not c.task.done()]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending


# ---- reading a run -----------------------------------------------------------------------


async def stored_frames(
    runner: Runner,
    user_id: str,
    session_id: str,
    run_id: str,
    *,
    after: Position = START,
    before: Position | None = None,
) -> list[Frame]:
    """The stored events of a run between two positions (exclusive), from the session."""
    session = await runner.get_session(user_id, session_id)
    events = session.events
    start = bisect.bisect_right(events, after[0], key=lambda e: e.seq)
    frames: list[Frame] = []
    for event in events[start:]:
        pos = (event.seq, 0)
        if before is not None and pos >= before:
            break
        if event.run_id == run_id and pos > after:
            frames.append(Frame(pos, event))
    return frames


async def follow(
    channel: RunChannel | None,
    *,
    runner: Runner,
    user_id: str,
    session_id: str,
    run_id: str,
    after: Position | None = None,
    ping: float | None = None,
) -> AsyncIterator[Frame | None]:
    """The frames of a run after `after` (all of them when None), live while it is active;
    `None` is yielded when nothing happened for `ping` seconds (a keep-alive)."""
    batches = follow_batches(
        channel,
        runner=runner,
        user_id=user_id,
        session_id=session_id,
        run_id=run_id,
        after=after,
        ping=ping,
    )
    async with aclosing(batches):
        async for batch in batches:
            if batch is None:
                yield None
                continue
            for frame in batch:
                yield frame


async def follow_batches(
    channel: RunChannel | None,
    *,
    runner: Runner,
    user_id: str,
    session_id: str,
    run_id: str,
    after: Position | None = None,
    ping: float | None = None,
) -> AsyncGenerator[list[Frame] | None, None]:
    """`follow`, a list at a time: the frames there are when the reader wakes up (never an
    empty list), so that a stream sends them in one write."""
    pos = after if after is not None else START
    if channel is None:
        frames = await stored_frames(runner, user_id, session_id, run_id, after=pos)
        if frames:
            yield frames
        return
    index = 0 if after is None else channel.index_after(pos)
    if after is not None and index == channel.base and index > 0:
        index -= 1  # frames before the buffer were dropped: fetch what is missing from the store
    channel.readers += 1
    timer = PingTimer(channel._loop, ping) if ping is not None else None
    try:
        while True:
            if index < channel.base:
                first = channel.first_position()
                stored = await stored_frames(
                    runner, user_id, session_id, run_id, after=pos, before=first
                )
                if stored:
                    pos = stored[-1].pos
                    yield stored
                index = channel.base
            frames = channel.frames_from(index)
            if frames:
                index += len(frames)
                if frames[0].pos <= pos:  # positions only grow: only after a resume
                    frames = [frame for frame in frames if frame.pos > pos]
                if frames:
                    pos = frames[-1].pos
                    yield frames
                continue
            if channel.done:
                return
            if not await channel.wait(index, ping, ping=timer):
                yield None
    finally:
        channel.readers -= 1
        if timer is not None:
            timer.close()


async def run_status(
    channel: RunChannel | None, runner: Runner, user_id: str, session_id: str, run_id: str
) -> dict[str, Any]:
    """A run's status: live from the channel, else from the session's stored events."""
    if channel is not None:
        info = runner.run_status(run_id)
        return {
            "run_id": run_id,
            "session_id": session_id,
            "status": "running" if info is not None else "queued",
            "started_at": channel.started_at,
            "event_count": info.event_count if info is not None else 0,
            "last_event_id": format_position(channel.last_position)
            if channel.last_position != START
            else None,
        }
    session = await runner.get_session(user_id, session_id)
    for summary in summarize_runs(session.events):
        if summary.run_id == run_id:
            return {
                "run_id": run_id,
                "session_id": session_id,
                "status": summary.status,
                "started_at": summary.started_at,
                "finished_at": summary.finished_at,
                "usage": summary.usage,
            }
    raise RunNotFound(run_id)
