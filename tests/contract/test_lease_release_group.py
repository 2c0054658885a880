"""Postgres leases released together go in one statement (`RELEASE_MANY`, through
backends/common/grouped.py): each caller still learns whether its lease was still held, and
only the leases released are free."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store

from .server_stores import drop, private_url

LONG = 30.0


@pytest.fixture
async def leases() -> AsyncIterator[Any]:
    url, _ = private_url("postgres")
    store: Any = open_session_store(url)
    async with store:
        yield store.leases()
    await drop(url)


async def test_releases_made_together_each_get_their_answer(leases: Any) -> None:
    held = [await leases.acquire(f"s{i}", f"run{i}", ttl=LONG) for i in range(12)]
    assert all(lease is not None for lease in held)
    assert await leases.release(held[0])  # s0 released: its token is stale from now on
    again = await leases.acquire("s0", "run-new", ttl=LONG)
    assert again is not None
    statements: list[int] = []
    write = leases._releases._write

    async def counted(items: list[Any]) -> list[bool]:
        statements.append(len(items))
        result: list[bool] = await write(items)
        return result

    leases._releases._write = counted
    answers = await asyncio.gather(*(leases.release(lease) for lease in [held[0], *held[1:11]]))
    assert answers == [False] + [True] * 10  # the stale token frees nothing
    assert statements[0] == 1 and sum(statements) == 11 and len(statements) < 11
    assert (await leases.current("s0")).holder == "run-new"
    assert await leases.current("s11") is not None  # not released
    for i in range(1, 11):
        assert await leases.current(f"s{i}") is None
