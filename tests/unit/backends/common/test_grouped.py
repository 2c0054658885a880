"""`Grouped`: each caller gets its own item's result from the batch its item went in."""

from __future__ import annotations

import asyncio

from agenthost.backends.common.grouped import Grouped


async def test_each_caller_gets_its_own_result() -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(items)
        started.set()
        if len(batches) == 1:
            await gate.wait()
        return [i * 10 for i in items]

    group: Grouped[int, int] = Grouped(write)
    first = asyncio.create_task(group.submit(1))
    await started.wait()
    rest = [asyncio.create_task(group.submit(i)) for i in (2, 3, 4)]
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40]
    assert batches == [[1], [2, 3, 4]]
    assert await group.submit(5) == 50  # nothing in flight: written at once
    assert batches[-1] == [5]
