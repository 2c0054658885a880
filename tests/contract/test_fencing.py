"""Fenced appends (ports/leases.py): a store with leases stores a run's events only while the
run's lease token is the newest, checked in the same statement/transaction as the write.
Against the real servers (Postgres, MySQL/MariaDB, Redis), with the store's own leases, and
end to end with two Runners (two replicas) where the first one's in-flight write lands after
the second took the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import LeaseLost
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.locks import lease_name
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.leases import Lease, LeaseStore, fences_appends
from agenthost.testing.scripted import ScriptedModel

from ..unit.engine.test_runner import HeldModel
from .server_stores import drop, private_url

SERVERS = ["postgres", "mysql", "redis"]
KEY = SessionKey("t", "u", "s")
SHORT = 0.3  # seconds: a lease let run out on purpose
LONG = 30.0


@pytest.fixture(params=SERVERS)
async def url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    url, _ = private_url(request.param)
    yield url
    await drop(url)


def said(text: str) -> Event:
    return Event(
        id=new_id(), run_id="r", author="user", type="message.received", message=Message.user(text)
    )


async def taken_over(leases: LeaseStore) -> tuple[Lease, Lease]:
    """A first holder whose lease ran out (on the server's clock) and the next holder."""
    name = lease_name(KEY)
    first = await leases.acquire(name, "run-a", ttl=SHORT)
    assert first is not None
    second = None
    async with asyncio.timeout(30):
        for _ in range(100_000):  # the server's clock decides: ask until it is free
            second = await leases.acquire(name, "run-b", ttl=LONG)
            if second is not None:
                break
            await asyncio.sleep(0.05)
    assert second is not None and second.token > first.token
    return first, second


async def test_a_stale_holders_append_is_refused(url: str) -> None:
    store: Any = open_session_store(url)
    async with store:
        assert fences_appends(store)
        leases = store.leases()
        session = await store.create(KEY)
        first, second = await taken_over(leases)
        with pytest.raises(LeaseLost) as refused:
            await store.append(session, [said("late"), said("later")], fence=first)
        assert refused.value.code == "lease_lost" and str(first.token) in refused.value.message
        assert session.events == []  # nothing half-applied to the object either
        stored = await store.get(KEY)
        assert stored is not None and stored.events == [] and stored.last_seq == 0
        await store.append(session, [said("current")], fence=second)  # the holder writes
        stored = await store.get(KEY)
        assert stored is not None and [e.seq for e in stored.events] == [1]
        # a lease released by its holder keeps its token: the stale one is still refused
        assert await leases.release(second)
        with pytest.raises(LeaseLost):
            await store.append(session, [said("late")], fence=first)
        await store.append(session, [said("unfenced")])  # not a run's write: not checked
        stored = await store.get(KEY)
        assert stored is not None and stored.last_seq == 2


async def test_a_stale_holders_append_with_state_is_refused(url: str) -> None:
    """The same with a state change in the batch (a store may write such a batch with another
    statement than plain events: the Postgres store does)."""
    store: Any = open_session_store(url)
    async with store:
        leases = store.leases()
        session = await store.create(KEY)
        first, second = await taken_over(leases)
        changed = Event(
            id=new_id(), run_id="r", author="a", type="state.updated", state_delta={"k": 1}
        )
        with pytest.raises(LeaseLost):
            await store.append(session, [said("late"), changed], fence=first)
        stored = await store.get(KEY)
        assert stored is not None and stored.events == [] and "k" not in stored.state
        await store.append(session, [said("current"), changed], fence=second)
        stored = await store.get(KEY)
        assert stored is not None and stored.last_seq == 2 and stored.state["k"] == 1


async def test_the_current_holder_and_a_never_leased_session_write(url: str) -> None:
    store: Any = open_session_store(url)
    async with store:
        leases = store.leases()
        lease = await leases.acquire(lease_name(KEY), "run-a", ttl=LONG)
        assert lease is not None
        session = await store.create(KEY)
        await store.append(session, [said("one")], fence=lease)
        other = SessionKey("t", "u", "other")  # no lease row at all: nothing newer
        free = await store.create(other)
        await store.append(
            free, [said("two")], fence=Lease(name=lease_name(other), holder="x", token=1, ttl=1)
        )
        assert (await store.get(KEY)).last_seq == 1
        assert (await store.get(other)).last_seq == 1


async def test_a_replica_that_lost_its_session_cannot_write_after_the_next_one(url: str) -> None:
    """Replica A's run stalls past its lease (its renewals do not happen: a paused process);
    replica B takes the session, closes A's run and runs its own. When A's model answers,
    its write is refused: the run fails `lease_lost` and nothing of it lands after B's."""
    a_store: Any = open_session_store(url)
    b_store: Any = open_session_store(url)
    async with a_store, b_store:
        held = HeldModel(["too late"])
        a = Runner(LLMAgent(model=held), store=a_store, app="t", lease_seconds=SHORT)
        a._locks.renew_seconds = 3600  # paused: A never learns from a renewal
        b = Runner(LLMAgent(model=ScriptedModel(["fresh"])), store=b_store, app="t")
        first = asyncio.create_task(collect(a.run("u", "s", "one")))
        await held.called.wait()
        second = await collect(b.run("u", "s", "two"))
        assert final_text(second) == "fresh"
        held.release.set()
        one = await first
        end = one[-1]
        assert end.type == "run.failed" and end.error is not None
        assert end.error.code == "lease_lost"
        session = await b.get_session("u", "s")
        a_run, b_run = one[0].run_id, second[0].run_id
        types = [(e.run_id, e.type) for e in session.events]
        assert types[:2] == [(a_run, "message.received"), (a_run, "run.interrupted")]
        assert all(run == b_run for run, _ in types[2:])
        assert types[-1] == (b_run, "run.completed")
        assert not any(e.message and e.message.text == "too late" for e in session.events)


@pytest.mark.parametrize("dangling", [False, True], ids=["message", "closing-a-dead-run"])
async def test_a_run_that_loses_its_lease_before_its_first_write_ends_failed(
    url: str, dangling: bool
) -> None:
    """Replica A takes the session's lease, then stalls before storing the user's message
    (its session read is held) past the lease; another replica takes the lease. A's first
    write (the user's message, or the `run.interrupted` closing a dead run it found) is
    refused: the run ends with one `run.failed` (`lease_lost`), not an exception, and
    nothing of it is stored."""
    a_store: Any = open_session_store(url)
    b_store: Any = open_session_store(url)
    async with a_store, b_store:
        b = Runner(LLMAgent(model=ScriptedModel(["first"])), store=b_store, app="t")
        assert final_text(await collect(b.run("u", "s", "one"))) == "first"
        if dangling:  # a run whose process died: A, holding the lease, would close it
            session = await b_store.get(KEY)
            await b_store.append(session, [said("dead")])
        a = Runner(LLMAgent(model=ScriptedModel(["never"])), store=a_store, app="t")
        a._locks.lease_seconds, a._locks.renew_seconds = SHORT, 3600  # paused: no renewal
        reading, resume = asyncio.Event(), asyncio.Event()
        get = a_store.get

        async def held_get(key: SessionKey) -> Any:
            reading.set()
            await resume.wait()
            return await get(key)

        a_store.get = held_get
        run = asyncio.create_task(collect(a.run("u", "s", "two")))
        await reading.wait()  # A holds the lease and has written nothing yet
        name = lease_name(KEY)
        taken = None
        async with asyncio.timeout(30):
            while taken is None:  # the server's clock decides when A's lease has run out
                taken = await b_store.leases().acquire(name, "run-b", ttl=LONG)
                await asyncio.sleep(0.05)
        resume.set()
        events = await run
        assert [e.type for e in events] == ["run.failed"]
        assert events[0].error is not None and events[0].error.code == "lease_lost"
        stored = await b_store.get(KEY)
        assert stored is not None and events[0].run_id not in {e.run_id for e in stored.events}
        last = "message.received" if dangling else "run.completed"
        assert stored.events[-1].type == last  # the dead run is left to the lease's holder
        assert not a._active and not a._locks.is_locked(KEY)


async def _waiting(conn: Any, sql: str, prefix: str) -> None:
    """Until a statement touching this test's leases table waits for a lock."""
    async with asyncio.timeout(30):
        for _ in range(100_000):
            if await conn(sql, f"%{prefix}leases%"):
                return
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("name", ["postgres", "mysql"])
async def test_an_acquire_racing_an_append_is_seen_by_it(name: str) -> None:
    """The check is one with the write: an append that starts while another process is
    taking the lease (its UPDATE not yet committed) waits for it and is then refused; it never
    checks a stale token and writes after the new holder got the session."""
    url, prefix = private_url(name)
    try:
        store: Any = open_session_store(url)
        async with store:
            leases = store.leases()
            session = await store.create(KEY)
            first, _ = await taken_over(leases)  # row exists; first's token is stale...
            stale = Lease(name=first.name, holder="run-b", token=first.token + 1, ttl=LONG)
            # ...and now `stale` (the current holder) is being replaced, uncommitted
            async with _taking(name, url, prefix, first.name) as waiting:
                append = asyncio.create_task(store.append(session, [said("late")], fence=stale))
                await waiting()
                assert not append.done()  # blocked on the lease row
            with pytest.raises(LeaseLost):
                await append
            stored = await store.get(KEY)
            assert stored is not None and stored.events == []
    finally:
        await drop(url)


@asynccontextmanager
async def _taking(name: str, url: str, prefix: str, lease: str) -> AsyncIterator[Any]:
    """Another process's acquire of `lease`, held uncommitted for the block, then committed;
    yields a function that returns once some statement waits for its row lock."""
    base = url.split("?")[0]
    if name == "postgres":
        import asyncpg

        conn = await asyncpg.connect(base)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(
                f"UPDATE {prefix}leases SET token = token + 1 WHERE name = $1", lease
            )
            watch = await asyncpg.connect(base)

            async def waiting() -> None:
                sql = (
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE $1"
                )
                await _waiting(lambda q, p: watch.fetchval(q, p), sql, prefix)

            try:
                yield waiting
            finally:
                await watch.close()
            await tx.commit()
        finally:
            await conn.close()
        return
    import asyncmy

    parts = urlsplit(base)
    options = {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": parts.username,
        "password": parts.password or "",
        "db": parts.path.lstrip("/"),
    }
    conn = await asyncmy.connect(**options)
    watch = await asyncmy.connect(**options, autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute("START TRANSACTION")
            await cur.execute(
                f"UPDATE {prefix}leases SET token = token + 1 WHERE name = %s", (lease,)
            )

            async def fetch(sql: str, pattern: str) -> Any:
                async with watch.cursor() as w:
                    await w.execute(sql, (pattern,))
                    return await w.fetchone()

            async def waiting() -> None:
                sql = (  # a statement on the leases table still running: the append, blocked
                    "SELECT 1 FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' "
                    "AND ID <> CONNECTION_ID() AND INFO LIKE %s"
                )
                await _waiting(fetch, sql, prefix)

            yield waiting
            await cur.execute("COMMIT")
    finally:
        conn.close()
        watch.close()
