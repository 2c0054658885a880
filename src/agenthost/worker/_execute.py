"""What a worker process runs: the agents of a config, driven on one event loop in a thread.

Celery's thread pool calls `WorkerRuntime.execute(payload)` from its threads; each call is a
coroutine on the runtime's loop, where a `RunManager` (the server's) drives the run and
publishes every event to the run streams, and a listener cancels the runs here that any
replica asks to cancel.

**A worker killed mid-run.** Its task was not acknowledged (late acks), so the broker gives it
to another worker. That worker never runs it a second time: it finds the run started (its
events in the session or the run stream) and instead waits, polling, until the session's
lease, which the dead worker held, has run out; then `Runner.get_session` closes the run with
`run.interrupted` (once: only the lease holder may, see engine/recovery.py) and the stored
tail is published to the stream (`publish_tail`: ids are positions, so nothing is published
twice). A reader on any replica may get there first: whichever does, the run ends once.

**After-run hooks** (`after_run(request, terminal_event)`) are called once for every task the
worker takes, however it ends: a run it drove (the terminal event as stored, `data.status`
`completed`, `failed`, `cancelled`, ...), a run it refused (the unstored `run.failed` its
stream readers got: `data.status` `failed`, `error.code` e.g. `agent_not_found`,
`session_busy`), a run a dead worker left (its terminal event, `run.interrupted` unless the
dead worker had stored another). A dead worker may have called its own hooks for a run it had
ended but not yet acknowledged: a hook that must not count a run twice keys on its run id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import msgspec

from agenthost.config.build import build_runtimes
from agenthost.config.schema import AgentHostConfig
from agenthost.core.errors import AgentHostError, SessionNotFound
from agenthost.core.events import ErrorInfo, Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.engine.runner import Runner
from agenthost.ports.streams import RunStreams
from agenthost.server.cluster import listen, publish_tail
from agenthost.server.errors import RunFinished
from agenthost.server.metrics import Metrics, MetricsServer, metrics_port, serve_metrics
from agenthost.server.runs import AfterRun, RunManager, RunRequest

log = logging.getLogger("agenthost.worker")

RECOVER_POLL = 0.5  # seconds between looks at a run a dead worker left


def _request(payload: Mapping[str, Any]) -> RunRequest:
    return RunRequest(
        agent=str(payload["agent"]),
        user_id=str(payload["user_id"]),
        session_id=str(payload["session_id"]),
        message=msgspec.convert(payload["message"], Message),
        api=str(payload.get("api") or "native"),
        timeout=payload.get("timeout"),
        state_delta=payload.get("state_delta"),
        config=payload.get("config"),
        busy_policy=payload.get("busy_policy"),
        run_id=str(payload["run_id"]),
    )


class WorkerRuntime:
    """The config's agents, opened on a loop in a thread of their own (`start`/`stop`).

    `after_run(request, terminal_event)` hooks run here when a background run ends, as a
    server runs them after its own runs (its before-run hooks ran on the server that took
    the run, before it was queued: `RunManager.admit`), and for the runs it refuses or
    recovers (module doc)."""

    def __init__(
        self,
        config: AgentHostConfig,
        events_url: str,
        *,
        grace: float = 30.0,
        after_run: Sequence[AfterRun] = (),
    ) -> None:
        self.config = config
        self.events_url = events_url
        self.grace = grace
        self.after_run = list(after_run)
        self.runners: dict[str, Runner] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._manager: RunManager | None = None
        self._streams: RunStreams | None = None
        self._stop: asyncio.Event | None = None
        self._ready: Future[None] = Future()
        self.metrics_server: MetricsServer | None = None
        self._thread = threading.Thread(target=self._main, name="agenthost-worker", daemon=True)

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Open everything; raises what failed."""
        self._thread.start()
        self._ready.result()

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join()
        if self.metrics_server is not None:
            self.metrics_server.close()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            else:
                log.exception("the worker's runtime failed")

    async def _serve(self) -> None:
        from agenthost.backends.streams import open_run_streams

        async with (
            build_runtimes(self.config) as runtimes,
            open_run_streams(self.events_url) as streams,
            asyncio.TaskGroup() as group,
        ):
            self.runners = {name: rt.runner for name, rt in runtimes.items()}
            self._streams = streams
            manager = self._manager = RunManager(
                group,
                streams=streams,
                grace=self.grace,
                observers=self._observers(),
                after_run=[self._drained] if self.after_run else [],
            )
            listener = group.create_task(listen(streams, manager), name="agenthost cancels")
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._ready.set_result(None)
            try:
                await self._stop.wait()
            finally:
                await manager.shutdown(self.grace)
                listener.cancel()

    def _observers(self) -> list[Any]:
        """The server's Prometheus metrics, served on AGENTHOST_METRICS_PORT when it is set
        (docs/observability.md): the same names as a server's, one scrape target each."""
        port = metrics_port()
        if port is None:
            return []
        metrics = Metrics()
        self.metrics_server = serve_metrics(metrics, port)
        log.info("worker metrics on port %d", self.metrics_server.port)
        return [metrics.observe]

    # ---- one task -------------------------------------------------------------------------

    def execute(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Drive one run to its end (called from a Celery thread; blocks it meanwhile)."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._execute(payload), self._loop)
        return future.result()

    async def _execute(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        assert self._manager is not None and self._streams is not None
        request = _request(payload)
        runner = self.runners.get(request.agent)
        if runner is None:
            return await self._refuse(request, "agent_not_found", f"no agent {request.agent!r}")
        if await self._started_before(runner, request):
            log.warning("run %s was started by a worker that died: closing it", request.run_id)
            return await self._recover(runner, request)
        try:
            channel = await self._manager.start(request, runner)
        except AgentHostError as exc:
            return await self._refuse(request, exc.code, exc.message, retryable=exc.retryable)
        reason = await self._streams.cancel_requested(request.run_id)
        if reason is not None:  # cancelled while it was queued
            with contextlib.suppress(RunFinished):
                self._manager.cancel(channel, reason)
        if channel.task is not None:
            await asyncio.wait([channel.task])
        terminal = channel.terminal
        if terminal is None:  # ended without one (cut short): `_drained` left it to us
            await self._after(request, None)
        return {"run_id": request.run_id, "status": _status(terminal)}

    async def _drained(self, request: RunRequest, terminal: Event | None) -> None:
        """The RunManager's after-run hook: ours, for a run that ended with its terminal
        event. Without one it never started (`start` raised: `_refuse` calls the hooks with
        the refusal) or was cut short (`_execute` calls them)."""
        if terminal is not None:
            await self._after(request, terminal)

    async def _after(self, request: RunRequest, terminal: Event | None) -> None:
        for hook in self.after_run:
            try:
                result = hook(request, terminal)
                if result is not None:
                    await result
            except Exception:
                log.exception("after_run hook %r failed for run %s", hook, request.run_id)

    async def _started_before(self, runner: Runner, request: RunRequest) -> bool:
        assert self._streams is not None
        if await self._streams.first(request.run_id) is not None:
            return True
        try:
            session = await runner.store.get(_key(runner, request))
        except SessionNotFound:  # pragma: no cover - stores return None
            return False
        return session is not None and any(e.run_id == request.run_id for e in session.events)

    async def _recover(self, runner: Runner, request: RunRequest) -> dict[str, Any]:
        assert self._streams is not None
        limit = runner._locks.lease_seconds * 3 + 30
        async with asyncio.timeout(limit):
            for _ in range(1_000_000):  # until the dead worker's lease has run out
                if await publish_tail(self._streams, runner, request):
                    break
                await asyncio.sleep(RECOVER_POLL)
        terminal = await _stored_terminal(runner, request)
        await self._after(request, terminal)
        return {"run_id": request.run_id, "status": _status(terminal) or "interrupted"}

    async def _refuse(
        self, request: RunRequest, code: str, message: str, *, retryable: bool = False
    ) -> dict[str, Any]:
        """The run could not start: readers of its stream get an (unstored) run.failed."""
        assert self._streams is not None
        event = Event(
            id=new_id(),
            run_id=request.run_id,
            author="runner",
            type="run.failed",
            user_id=request.user_id,
            session_id=request.session_id,
            error=ErrorInfo(code=code, message=message, retryable=retryable),
            data={"status": "failed", "stored": False},
        )
        await self._streams.publish(request.run_id, [((0, 2), event)])
        await self._after(request, event)
        return {"run_id": request.run_id, "status": "failed", "error": code}


def _status(terminal: Event | None) -> Any:
    return (terminal.data or {}).get("status") if terminal is not None else None


async def _stored_terminal(runner: Runner, request: RunRequest) -> Event | None:
    """The terminal event the session holds for the run (after `publish_tail` found it)."""
    try:
        session = await runner.store.get(_key(runner, request))
    except SessionNotFound:  # pragma: no cover - stores return None
        return None
    if session is None:
        return None
    ends = [e for e in session.events if e.run_id == request.run_id and e.is_terminal]
    return ends[-1] if ends else None


def _key(runner: Runner, request: RunRequest) -> Any:
    from agenthost.core.session import SessionKey

    return SessionKey(runner.app, request.user_id, request.session_id)
