"""One contract for every lease backend (ports/leases.py): memory, Redis, Postgres, MySQL.

The server backends run on their own clock, so expiry is waited for (polling `current` until
the lease is gone), never assumed after a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.backends.sessions.leases_memory import MemoryLeases
from agenthost.ports.leases import Lease, LeaseStore

from .server_stores import drop, private_url

SHORT = 0.3  # seconds: a lease let run out on purpose
LONG = 30.0


@pytest.fixture(params=["memory", "redis", "postgres", "mysql"])
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[LeaseStore]:
    if request.param == "memory":
        yield MemoryLeases()
        return
    url, _ = private_url(request.param)
    store: Any = open_session_store(url)
    async with store:
        yield store.leases()
    await drop(url)


async def _expired(leases: LeaseStore, name: str) -> None:
    async with asyncio.timeout(30):
        for _ in range(100_000):  # the backend's own clock decides: ask until it is gone
            if await leases.current(name) is None:
                return
            await asyncio.sleep(0.05)


async def test_one_holder_at_a_time(leases: LeaseStore) -> None:
    assert isinstance(leases, LeaseStore)
    first = await leases.acquire("s1", "run-a", ttl=LONG)
    assert first is not None and first.holder == "run-a" and first.token >= 1
    assert await leases.acquire("s1", "run-b", ttl=LONG) is None
    assert await leases.acquire("s1", "run-a", ttl=LONG) is None  # not re-entrant
    other = await leases.acquire("s2", "run-b", ttl=LONG)  # another name is free
    assert other is not None
    now = await leases.current("s1")
    assert now is not None and (now.holder, now.token) == ("run-a", first.token)
    assert 0 < now.ttl <= LONG


async def test_release_frees_and_tokens_grow(leases: LeaseStore) -> None:
    first = await leases.acquire("s", "a", ttl=LONG)
    assert first is not None
    assert await leases.release(first)
    assert await leases.current("s") is None
    assert not await leases.release(first)  # twice: no longer ours
    second = await leases.acquire("s", "b", ttl=LONG)
    assert second is not None and second.token > first.token
    assert not await leases.release(first)  # a stale token frees nothing
    assert await leases.current("s") is not None


async def test_an_expired_lease_is_lost_to_the_next_holder(leases: LeaseStore) -> None:
    first = await leases.acquire("s", "a", ttl=SHORT)
    assert first is not None
    await _expired(leases, "s")
    second = await leases.acquire("s", "b", ttl=LONG)
    assert second is not None and second.token > first.token
    assert await leases.renew(first) is None  # the fencing token: the old holder learns it lost
    assert not await leases.release(first)
    still = await leases.current("s")
    assert still is not None and still.holder == "b"


async def test_renew_keeps_it(leases: LeaseStore) -> None:
    lease = await leases.acquire("s", "a", ttl=SHORT)
    assert lease is not None
    renewed = await leases.renew(lease, ttl=LONG)
    assert renewed == Lease(name="s", holder="a", token=lease.token, ttl=LONG)
    assert await leases.acquire("s", "b", ttl=LONG) is None


async def test_interrupt_reaches_the_holder_through_renew(leases: LeaseStore) -> None:
    assert not await leases.interrupt("s", "nobody holds it")
    lease = await leases.acquire("s", "a", ttl=LONG)
    assert lease is not None
    renewed = await leases.renew(lease)
    assert renewed is not None and renewed.interrupt is None
    assert await leases.interrupt("s", "a newer message")
    renewed = await leases.renew(lease)
    assert renewed is not None and renewed.interrupt == "a newer message"
    assert await leases.release(lease)
    fresh = await leases.acquire("s", "b", ttl=LONG)
    assert fresh is not None
    again = await leases.renew(fresh)
    assert again is not None and again.interrupt is None  # the request was for the old holder


async def test_racing_acquirers_get_one_lease(leases: LeaseStore) -> None:
    got = await asyncio.gather(*(leases.acquire("race", f"h{i}", ttl=LONG) for i in range(8)))
    assert len([g for g in got if g is not None]) == 1
