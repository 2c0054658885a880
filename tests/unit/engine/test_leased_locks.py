"""Two Runners over one store and one lease store behave as two replicas: at most one run
of a session at a time, the busy policies across them, and a dead holder's run closed once,
when its lease has run out. (The same against Redis/Postgres/MySQL leases in
tests/contract/test_leases.py and, with real processes, tests/integration/test_multi_replica.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.backends.sessions.leases_memory import MemoryLeases
from agenthost.core.errors import SessionBusy
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.locks import SessionLocks, lease_name
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel

from .test_runner import HeldModel


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def one_id(runner: Runner) -> str:
    (info,) = runner.active_runs()
    return info.run_id


def replica(store: SessionStore, leases: MemoryLeases, model: ScriptedModel) -> Runner:
    agent = LLMAgent(model=model, instructions="be brief")
    return Runner(agent, store=store, app="t", leases=leases, lease_seconds=5.0)


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


async def test_a_second_replica_queues_behind_the_first(store: SessionStore) -> None:
    leases = MemoryLeases()
    held = HeldModel(["first"])
    a, b = replica(store, leases, held), replica(store, leases, ScriptedModel(["second"]))
    first = asyncio.create_task(collect(a.run("u", "s", "one")))
    await held.called.wait()
    second = asyncio.create_task(collect(b.run("u", "s", "two")))
    holder = await leases.current(lease_name(SessionKey("t", "u", "s")))
    assert holder is not None and holder.holder == one_id(a)
    for _ in range(20):  # let the second poll a few times: it must keep waiting
        await asyncio.sleep(0.01)
    assert not second.done()
    held.release.set()
    one, two = await first, await second
    assert (final_text(one), final_text(two)) == ("first", "second")
    session = await a.get_session("u", "s")
    runs = [e.run_id for e in session.events]
    assert runs == sorted(runs, key=runs.index)  # no interleaving: one run, then the other
    assert [e.type for e in session.events].count("run.completed") == 2


async def test_reject_across_replicas(store: SessionStore) -> None:
    leases = MemoryLeases()
    held = HeldModel(["first"])
    a, b = replica(store, leases, held), replica(store, leases, ScriptedModel(["never"]))
    first = asyncio.create_task(collect(a.run("u", "s", "one")))
    await held.called.wait()
    with pytest.raises(SessionBusy):
        await collect(b.run("u", "s", "two", busy_policy="reject"))
    held.release.set()
    await first
    session = await b.get_session("u", "s")
    assert [e.type for e in session.events].count("message.received") == 1


async def test_interrupt_across_replicas(store: SessionStore) -> None:
    leases = MemoryLeases()
    held = HeldModel(["too late"])
    a = Runner(LLMAgent(model=held), store=store, app="t", leases=leases, lease_seconds=0.2)
    b = replica(store, leases, ScriptedModel(["fresh"]))
    first = asyncio.create_task(collect(a.run("u", "s", "one")))
    await held.called.wait()
    second = await collect(b.run("u", "s", "two", busy_policy="interrupt"))
    one = await first
    assert one[-1].error is not None and one[-1].error.code == "interrupted"
    assert final_text(second) == "fresh"


async def _open_run(store: SessionStore, key: SessionKey, run_id: str) -> None:
    session = await store.get(key) or await store.create(key)
    received = Event(
        id=new_id(),
        run_id=run_id,
        author="user",
        type="message.received",
        message=Message.user("hi"),
    )
    await store.append(session, [received])


async def test_a_dead_holders_run_is_closed_once_its_lease_runs_out(store: SessionStore) -> None:
    clock = Clock()
    leases = MemoryLeases(clock=clock)
    key = SessionKey("t", "u", "s")
    await _open_run(store, key, "run_dead")
    dead = await leases.acquire(lease_name(key), "run_dead", ttl=5.0)  # its process is gone
    assert dead is not None
    a, b = (replica(store, leases, ScriptedModel(["x"])) for _ in range(2))
    # while the lease is live, nobody may judge the run: it stays open
    assert not (await a.get_session("u", "s")).events[-1].is_terminal
    clock.now += 6.0
    # both replicas look at once: the run is closed exactly once
    await asyncio.gather(a.get_session("u", "s"), b.get_session("u", "s"))
    session = await a.get_session("u", "s")
    assert [e.type for e in session.events] == ["message.received", "run.interrupted"]
    assert await leases.renew(dead) is None  # the dead holder's token is stale


async def test_a_run_that_lost_its_lease_is_interrupted() -> None:
    clock = Clock()
    leases = MemoryLeases(clock=clock)
    locks = SessionLocks(leases, lease_seconds=5.0, renew_seconds=0.01)
    key = SessionKey("t", "u", "s")
    interrupted = asyncio.Event()
    async with locks.hold(key, policy="queue", run_id="r1", interrupt=lambda _: interrupted.set()):
        clock.now += 6.0  # the lease ran out (a long pause) and another process took it
        assert await leases.acquire(lease_name(key), "r2", ttl=5.0) is not None
        await interrupted.wait()
