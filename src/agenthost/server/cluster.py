"""The server as one replica of many: run streams, cancels and background runs.

With `cluster.events` (a Redis URL; env AGENTHOST_EVENTS_URL) every run this server drives is
published to the run streams (ports/streams.py) as it goes, with its frame positions, so:

- a client can stream or resume (`Last-Event-ID`) a run through ANY replica: a replica that
  does not drive the run reads it from the stream (`cluster_batches`), and from the session
  store for what the stream no longer holds;
- cancel reaches the process that drives the run, wherever the request arrives (`listen`:
  each replica and worker hears every cancel and cancels the runs it drives);
- a reader that finds the stream quiet checks, every `lease_seconds / 2`, whether the run's
  owner died (its session lease ran out and the run is still open: `Runner.get_session`
  closes it, once, see engine/recovery.py) and publishes the stored tail (`run.interrupted`),
  so every stream ends.

With `cluster.broker` (env AGENTHOST_BROKER_URL) a run posted with `"background": true` is
sent to a Celery worker (agenthost.worker) and answered at once (202, status `queued`); its
events come through the run streams like any other run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agenthost.config.schema import AgentHostConfig
from agenthost.core.errors import AgentHostError, ConfigError, InvalidArgument, SessionNotFound
from agenthost.engine.runner import Runner
from agenthost.ports.streams import RunStreams
from agenthost.server.runs import START, Frame, Position, RunManager, RunRequest

log = logging.getLogger("agenthost.server.cluster")

EVENTS_ENV = "AGENTHOST_EVENTS_URL"
BROKER_ENV = "AGENTHOST_BROKER_URL"


@dataclass(slots=True)
class Cluster:
    """What a replica shares with the others (kept in `ServerState.extras["cluster"]`)."""

    streams: RunStreams
    check_seconds: float  # how often a reader of a quiet stream checks for a dead owner
    submit: Any = None  # background runs: `agenthost.worker.Submitter`, or None


def cluster_urls(config: AgentHostConfig | None, env: Mapping[str, str]) -> tuple[str | None, ...]:
    """(events URL, broker URL) from the config, else the environment."""
    cluster = (config or AgentHostConfig()).cluster
    events = cluster.events or env.get(EVENTS_ENV) or None
    broker = cluster.broker or env.get(BROKER_ENV) or None
    return events, broker


def cluster_of(state: Any) -> Cluster | None:
    found: Cluster | None = state.extras.get("cluster")
    return found


def run_meta(request: RunRequest, status: str) -> dict[str, Any]:
    return {
        "agent": request.agent,
        "user_id": request.user_id,
        "session_id": request.session_id,
        "status": status,
    }


def owns(meta: Mapping[str, Any] | None, agent: str, user_id: str, session_id: str) -> bool:
    return meta is not None and (
        meta.get("agent"),
        meta.get("user_id"),
        meta.get("session_id"),
    ) == (
        agent,
        user_id,
        session_id,
    )


async def listen(streams: RunStreams, manager: RunManager) -> None:
    """Cancel the runs this process drives when any replica asks (until cancelled)."""
    while True:
        try:
            async for run_id, reason in streams.cancels():
                channel = manager.get(run_id)
                if channel is not None and channel.terminal is None:
                    log.info("cancel of run %s from another replica", run_id)
                    with contextlib.suppress(AgentHostError):
                        manager.cancel(channel, reason)
        except AgentHostError as exc:  # Redis went away: listen again once it is back
            log.warning("cancel listener: %s; retrying", exc.message)
            await asyncio.sleep(1.0)


async def publish_tail(
    streams: RunStreams, runner: Runner, request: RunRequest, *, after: Position = START
) -> bool:
    """Publish the run's stored events after `after` (what a dead owner could not); True if
    the run's terminal event is among them."""
    try:
        session = await runner.get_session(request.user_id, request.session_id)
    except SessionNotFound:
        return False
    frames = [
        ((e.seq, 0), e) for e in session.events if e.run_id == request.run_id and (e.seq, 0) > after
    ]
    await streams.publish(request.run_id, frames)
    return any(e.is_terminal for _, e in frames)


async def cluster_batches(
    cluster: Cluster,
    runner: Runner,
    request: RunRequest,
    *,
    after: Position | None,
    ping: float,
) -> AsyncGenerator[list[Frame] | None, None]:
    """The frames of a run another process drives, from the run streams (see the module doc);
    `None` for a keep-alive, like `runs.follow_batches`."""
    streams = cluster.streams
    pos = after if after is not None else START
    first = await streams.first(request.run_id)
    if first is None or pos < first:  # what the stream does not hold (trimmed): the store's
        try:
            session = await runner.get_session(request.user_id, request.session_id)
        except SessionNotFound:
            session = None
        if session is not None:
            stored = [
                Frame((e.seq, 0), e)
                for e in session.events
                if e.run_id == request.run_id
                and (e.seq, 0) > pos
                and (first is None or (e.seq, 0) < first)
            ]
            if stored:
                pos = stored[-1].pos
                yield stored
                if stored[-1].event.is_terminal:
                    return
    block = max(0.05, min(ping, cluster.check_seconds))
    quiet = 0.0
    while True:
        got = await streams.read(request.run_id, after=pos, block=block)
        batch = [Frame(p, e) for p, e in got if p > pos]
        if batch:
            quiet = 0.0
            pos = batch[-1].pos
            yield batch
            if batch[-1].event.is_terminal:
                return
            continue
        quiet += block
        if quiet >= cluster.check_seconds:  # is the owner still alive? closes it if not
            quiet = 0.0
            await publish_tail(streams, runner, request, after=pos)
            continue
        yield None


async def submit_background(cluster: Cluster, request: RunRequest, runner: Runner) -> None:
    """Send a run to the workers (the run streams know it as `queued` first)."""
    if cluster.submit is None:
        raise InvalidArgument(
            "background",
            f"background runs need a broker: set cluster.broker in agenthost.yaml (or "
            f"{BROKER_ENV}) and start `agenthost worker`",
        )
    await cluster.streams.describe(request.run_id, run_meta(request, "queued"))
    await cluster.submit(request, app=runner.app)


def stored_request(meta: Mapping[str, Any], run_id: str) -> RunRequest:
    """A RunRequest naming a run from its meta (what the readers need: ids)."""
    from agenthost.core.messages import Message

    return RunRequest(
        agent=str(meta.get("agent")),
        user_id=str(meta.get("user_id")),
        session_id=str(meta.get("session_id")),
        message=Message.user("-"),
        run_id=run_id,
    )


__all__ = [
    "Cluster",
    "cluster_batches",
    "cluster_of",
    "cluster_urls",
    "listen",
    "open_cluster",
    "owns",
    "publish_tail",
    "run_meta",
    "start_listener",
    "stored_request",
    "submit_background",
]


@asynccontextmanager
async def open_cluster(
    state: Any, config: AgentHostConfig | None, env: Mapping[str, str] | None = None
) -> AsyncIterator[Cluster | None]:
    """Open the run streams (and the broker client) the config or environment names, keep them
    in `state.extras["cluster"]`, close them on exit; None when no events URL is set."""
    events, broker = cluster_urls(config, os.environ if env is None else env)
    if events is None:
        if broker is not None:
            raise ConfigError(
                "cluster.broker is set but cluster.events is not: background runs stream their "
                f"events through Redis. Set cluster.events (or {EVENTS_ENV}) to a redis:// URL."
            )
        yield None
        return
    from agenthost.backends.streams import open_run_streams

    settings = (config or AgentHostConfig()).cluster
    async with AsyncExitStack() as stack:
        streams = await stack.enter_async_context(open_run_streams(events))
        submit = None
        if broker is not None:
            from agenthost.worker import Submitter

            submit = Submitter(
                broker, queue=settings.queue, visibility_timeout=settings.visibility_timeout
            )
            stack.callback(submit.close)
        cluster = Cluster(streams, check_seconds=settings.lease_seconds / 2, submit=submit)
        state.extras["cluster"] = cluster
        try:
            yield cluster
        finally:
            state.extras.pop("cluster", None)


def start_listener(
    group: asyncio.TaskGroup, cluster: Cluster | None, manager: RunManager
) -> asyncio.Task[None] | None:
    """The cancel listener as a task of the server's group (the caller cancels it)."""
    if cluster is None:
        return None
    return group.create_task(listen(cluster.streams, manager), name="agenthost cancel listener")
