"""engine/recovery.py: whose open run is dead, by process instance and by lease."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from agenthost.backends.sessions.memory import MemorySessionStore
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import Session, SessionKey
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.recovery import LEASES, Recovery, process_identity, process_start
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import ScriptedModel

KEY = SessionKey("t", "u", "s")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def open_run(
    store: MemorySessionStore, data: dict[str, Any], *, started: float | None = None
) -> Session:
    """A session whose last run was left open by the owner `data` describes."""
    session = await store.create(KEY)
    received = Event(
        id=new_id(),
        timestamp=time.time() if started is None else started,
        run_id="run_1",
        author="user",
        type="message.received",
        message=Message.user("hi"),
        data=data,
    )
    await store.append(session, [received])
    return session


async def judged(store: MemorySessionStore, recovery: Recovery) -> str:
    session = await store.get(KEY)
    assert session is not None
    await recovery.close_dangling(store, session, active=())
    return session.events[-1].type


class LeaseWatch(MemorySessionStore):
    """A memory store that tells when a KV value was written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        await super().kv_set(namespace, key, value)
        self.written.set()

    async def next_write(self) -> None:
        self.written.clear()
        await self.written.wait()


def elsewhere(holder: str) -> dict[str, Any]:
    return {"host": "web-2", "machine": "other-boot/1", "pid": 1, "start": 5, "holder": holder}


async def test_this_process_with_its_start_time_is_alive_and_another_start_time_is_not() -> None:
    me = process_identity()
    assert me["start"] == process_start(os.getpid())
    store = MemorySessionStore()
    await open_run(store, {"owner": {**me, "holder": "another-runner"}})
    assert await judged(store, Recovery(store)) == "message.received"
    await store.delete(KEY)
    # the same pid, but a different process instance (the pid was reused)
    await open_run(store, {"owner": {**me, "start": me["start"] - 1, "holder": "x"}})
    assert await judged(store, Recovery(store)) == "run.interrupted"


async def test_a_run_of_this_runner_that_is_not_active_was_abandoned() -> None:
    store = MemorySessionStore()
    recovery = Recovery(store)
    await open_run(store, {"owner": recovery.owner})
    session = await store.get(KEY)
    assert session is not None
    await recovery.close_dangling(store, session, active={"run_1"})
    assert session.events[-1].type == "message.received"
    assert await judged(store, recovery) == "run.interrupted"


async def test_an_owner_elsewhere_is_alive_while_its_lease_or_last_event_is_fresh() -> None:
    store = MemorySessionStore()
    writer = Recovery(store, lease_seconds=60)
    session = await open_run(store, {"owner": elsewhere(writer.holder)})
    t0 = session.events[-1].timestamp
    reader = Recovery(store, lease_seconds=60, clock=Clock(t0 + 59))
    assert await judged(store, reader) == "message.received"  # a fresh event is a renewal
    writer.clock = Clock(t0 + 100)
    await writer.renew()
    assert await store.kv_get(LEASES, writer.holder) == {
        "until": t0 + 160,
        "renewed": t0 + 100,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    reader.clock = Clock(t0 + 159)
    assert await judged(store, reader) == "message.received"  # the lease is live
    reader.clock = Clock(t0 + 161)
    assert await judged(store, reader) == "run.interrupted"


async def test_the_heartbeat_keeps_an_old_run_alive_elsewhere_and_stops_with_the_runner() -> None:
    store = LeaseWatch()
    runner = Runner(LLMAgent(model=ScriptedModel([])), store=store, app="t")
    runner.recovery.renew_seconds = 0.001
    clock = Clock(10_000.0)
    runner.recovery.clock = clock
    async with runner:
        assert (await store.kv_get(LEASES, runner.recovery.holder))["until"] == 10_060.0
        clock.now = 20_000.0
        while (await store.kv_get(LEASES, runner.recovery.holder))["until"] != 20_060.0:
            await store.next_write()  # the heartbeat renews
        owner = elsewhere(runner.recovery.holder)
        await open_run(store, {"owner": owner}, started=1_000.0)  # its events are long stale
        reader = Recovery(store, clock=Clock(20_030.0))
        assert await judged(store, reader) == "message.received"
    assert await store.kv_get(LEASES, runner.recovery.holder) is None
    assert await judged(store, reader) == "run.interrupted"


async def test_no_lease_store_means_an_owner_elsewhere_lives_only_as_long_as_its_events() -> None:
    store = MemorySessionStore()
    session = await open_run(store, {"owner": elsewhere("h")})
    reader = Recovery(None, clock=Clock(session.events[-1].timestamp + 59))
    await reader.start()  # nothing to do without a store
    assert await judged(store, reader) == "message.received"
    reader.clock = Clock(session.events[-1].timestamp + 61)
    assert await judged(store, reader) == "run.interrupted"


async def test_old_host_pid_records() -> None:
    """Records written before owner records: a live process on this host that started before
    the run keeps it; one that started after it (a reused pid), or another host, does not."""
    store = MemorySessionStore()
    await open_run(store, {"runner": f"{socket.gethostname()}:{os.getpid()}"})
    assert await judged(store, Recovery(store)) == "message.received"
    await store.delete(KEY)
    await open_run(store, {"runner": f"not-{socket.gethostname()}:{os.getpid()}"})
    assert await judged(store, Recovery(store)) == "run.interrupted"
    await store.delete(KEY)
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # noqa: ASYNC220
    try:
        record = {"runner": f"{socket.gethostname()}:{later.pid}"}
        await open_run(store, record, started=time.time() - 30)
        assert await judged(store, Recovery(store)) == "run.interrupted"
    finally:
        later.kill()
        later.wait()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_has_its_own_process_identity() -> None:
    mine = process_identity()
    assert process_identity() is mine  # kept: a run reads it without a getpid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the pid its identity names, and leave at once
        try:
            os.write(write, str(process_identity()["pid"]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = int(pipe.read())
    os.waitpid(pid, 0)
    assert reported == pid != mine["pid"]
