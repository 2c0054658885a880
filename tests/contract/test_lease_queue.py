"""Waiting runs take their turn in arrival order across replicas (ports/leases.py LeaseQueue):
the contract of the queue on the stores that keep one (Postgres, MySQL/MariaDB, Redis), and
two Runners in one process sharing a store, each a replica, whose queued runs start in the
order they came. MySQL's queue table is a migration: a database made before it gets it by
`agenthost db upgrade`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import ConfigError
from agenthost.core.messages import Message
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.leases import LeaseQueue
from agenthost.testing.scripted import FunctionModel

from .server_stores import cli_db_upgrade, private_server

QUEUES = ["postgres", "mysql", "redis"]
SHORT = 0.3  # seconds: a ticket let run out on purpose
LONG = 30.0


@pytest.fixture(params=QUEUES)
async def url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async with private_server(request.param) as url:
        yield url


async def test_the_oldest_live_ticket_gets_the_lease(url: str) -> None:
    store: Any = open_session_store(url)
    async with store:
        queue = store.leases()
        assert isinstance(queue, LeaseQueue)
        held = await queue.acquire_queued("s", "run-0", ttl=LONG, ticket=None)
        assert held is not None  # free, nobody waiting
        first = await queue.enqueue("s", "run-1", ttl=LONG)
        second = await queue.enqueue("s", "run-2", ttl=LONG)
        assert second > first
        assert await queue.acquire_queued("s", "run-1", ttl=LONG, ticket=first) is None  # held
        assert await queue.release(held)
        # free now, but the second ticket and a newcomer wait behind the first
        assert await queue.acquire_queued("s", "run-2", ttl=LONG, ticket=second) is None
        assert await queue.acquire_queued("s", "run-3", ttl=LONG, ticket=None) is None
        one = await queue.acquire_queued("s", "run-1", ttl=LONG, ticket=first)
        assert one is not None and one.holder == "run-1" and one.token > held.token
        assert await queue.release(one)
        two = await queue.acquire_queued("s", "run-2", ttl=LONG, ticket=second)
        assert two is not None and two.token > one.token
        assert await queue.release(two)
        # the queue is empty: a newcomer takes it at once
        three = await queue.acquire_queued("s", "run-3", ttl=LONG, ticket=None)
        assert three is not None
        assert await queue.release(three)


async def test_a_ticket_that_left_or_ran_out_holds_nobody_up(url: str) -> None:
    store: Any = open_session_store(url)
    async with store:
        queue = store.leases()
        gone = await queue.enqueue("s", "run-1", ttl=LONG)
        await queue.dequeue("s", gone)
        lease = await queue.acquire_queued("s", "run-2", ttl=LONG, ticket=None)
        assert lease is not None
        assert await queue.release(lease)
        dead = await queue.enqueue("s", "run-3", ttl=SHORT)  # its waiter died: never touched
        assert await queue.acquire_queued("s", "run-4", ttl=LONG, ticket=None) is None
        kept = await queue.enqueue("s", "run-5", ttl=SHORT)
        got = None
        async with asyncio.timeout(30):
            while got is None:  # the server's clock decides when the dead ticket runs out
                await queue.touch("s", kept, ttl=LONG)  # this waiter is alive
                got = await queue.acquire_queued("s", "run-5", ttl=LONG, ticket=kept)
                await asyncio.sleep(0.05)
        assert got.holder == "run-5" and dead < kept


async def test_queued_runs_start_in_arrival_order_across_replicas(url: str) -> None:
    """Replica A runs a long turn; then runs for the same session arrive alternately at B
    and A (each waits for its ticket before the next is sent). They start in arrival order,
    not each replica's own runs first."""
    a_store: Any = open_session_store(url)
    b_store: Any = open_session_store(url)
    started: list[str] = []
    release, holding = asyncio.Event(), asyncio.Event()

    async def answer(messages: list[Message], tools: object) -> str:
        text = messages[-1].text
        started.append(text)
        if text == "first":
            holding.set()
            await release.wait()
        return f"re: {text}"

    async with a_store, b_store:
        a = Runner(LLMAgent(model=FunctionModel(answer)), store=a_store, app="t")
        b = Runner(LLMAgent(model=FunctionModel(answer)), store=b_store, app="t")
        waiting = asyncio.Semaphore(0)
        for runner in (a, b):
            enqueue = runner._locks._queue.enqueue  # type: ignore[union-attr]

            async def signalled(*args: Any, _enqueue: Any = enqueue, **kwargs: Any) -> int:
                ticket: int = await _enqueue(*args, **kwargs)
                waiting.release()
                return ticket

            runner._locks._queue.enqueue = signalled  # type: ignore[union-attr,method-assign]
        first = asyncio.create_task(collect(a.run("u", "s", "first")))
        await holding.wait()
        order = [f"m{i}" for i in range(6)]
        runs = []
        for i, text in enumerate(order):
            replica = b if i % 2 == 0 else a
            runs.append(asyncio.create_task(collect(replica.run("u", "s", text))))
            await waiting.acquire()  # it has its ticket: in line
        release.set()
        assert final_text(await first) == "re: first"
        for text, run in zip(order, runs, strict=True):
            assert final_text(await run) == f"re: {text}"
        assert started == ["first", *order]


async def test_a_mysql_database_before_the_queue_gets_it_by_db_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MySQL database at schema version 2 (no waiters' table) is refused at start-up until
    `agenthost db upgrade` applies step 3 (and 4); then the queue serves tickets in order."""
    from agenthost.backends.sessions import _mysql_sql

    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    async with private_server("mysql") as url:
        plain = url.replace("&migrate=true", "")
        with monkeypatch.context() as patch:
            patch.setattr(_mysql_sql, "MIGRATIONS", _mysql_sql.MIGRATIONS[:2])
            assert await open_session_store(plain).upgrade() == [1, 2]
        with pytest.raises(ConfigError, match="agenthost db upgrade"):
            await open_session_store(plain).open()
        done = await cli_db_upgrade(tmp_path, plain)
        assert done.exit_code == 0 and "applied migrations [3, 4]" in done.output, done.output
        store: Any = open_session_store(plain)
        async with store:
            queue = store.leases()
            first = await queue.enqueue("s", "run-1", ttl=LONG)
            second = await queue.enqueue("s", "run-2", ttl=LONG)
            assert await queue.acquire_queued("s", "run-2", ttl=LONG, ticket=second) is None
            lease = await queue.acquire_queued("s", "run-1", ttl=LONG, ticket=first)
            assert lease is not None and await queue.release(lease)
            lease = await queue.acquire_queued("s", "run-2", ttl=LONG, ticket=second)
            assert lease is not None and await queue.release(lease)


async def test_mysql_takes_a_known_lease_without_a_server_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lease row is made once (INSERT ... ON DUPLICATE KEY UPDATE): taking it again makes
    no duplicate-key warning, which would cost a SHOW WARNINGS round trip and a log line per
    acquire (the driver fetches and logs every warning)."""
    async with private_server("mysql") as url:
        store: Any = open_session_store(url)
        async with store:
            queue = store.leases()
            for holder in ("run-1", "run-2"):
                lease = await queue.acquire("s", holder, ttl=LONG)
                assert lease is not None and await queue.release(lease)
            with caplog.at_level(logging.WARNING, logger="asyncmy"):
                lease = await queue.acquire_queued("s", "run-3", ttl=LONG, ticket=None)
                assert lease is not None and await queue.release(lease)
                lease = await queue.acquire("s", "run-4", ttl=LONG)
                assert lease is not None and await queue.release(lease)
            assert [r.getMessage() for r in caplog.records if r.name == "asyncmy"] == []
