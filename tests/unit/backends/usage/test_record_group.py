"""`RecordGroup` (the Postgres and MySQL usage stores' `record`): records that arrive while a
write is in flight go together in the next write; each caller returns once its own record is
written, or raises its write's error. Driven by a fake write the test releases step by step."""

from __future__ import annotations

import asyncio

import pytest

from agenthost.backends.usage._common import RecordGroup
from agenthost.core.usage import UsageRecord

from ....contract.test_usage_store import rec as usage_record


def rec(run_id: str, cost: float = 0.5) -> UsageRecord:
    return usage_record(run_id, cost=cost)


class Writes:
    """The batches written, each held until the test lets it end (or fail)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, float]]] = []
        self.started = asyncio.Event()
        self.gates: list[asyncio.Future[None]] = []

    async def __call__(self, records: list[UsageRecord]) -> None:
        self.batches.append([(r.run_id, r.cost) for r in records])
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        self.started.set()
        await gate

    async def next_write(self) -> asyncio.Future[None]:
        while not self.started.is_set():
            await self.started.wait()
        self.started.clear()
        return self.gates[-1]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_records_arriving_during_a_write_share_the_next() -> None:
    writes = Writes()
    group = RecordGroup(writes)
    first = asyncio.create_task(group.record(rec("r1")))
    gate = await writes.next_write()
    others = [asyncio.create_task(group.record(rec(f"r{i}"))) for i in range(2, 6)]
    await _settle()
    assert writes.batches == [[("r1", 0.5)]] and not any(t.done() for t in others)
    gate.set_result(None)
    await first
    gate = await writes.next_write()
    assert writes.batches[1] == [(f"r{i}", 0.5) for i in range(2, 6)]
    assert not any(t.done() for t in others)  # stored only once their write ends
    gate.set_result(None)
    await asyncio.gather(*others)
    solo = asyncio.create_task(group.record(rec("r9")))
    (await writes.next_write()).set_result(None)
    await solo
    assert writes.batches[2] == [("r9", 0.5)]


async def test_a_failed_write_fails_its_callers_only() -> None:
    writes = Writes()
    group = RecordGroup(writes)
    first = asyncio.create_task(group.record(rec("r1")))
    gate = await writes.next_write()
    failing = [asyncio.create_task(group.record(rec(f"r{i}"))) for i in (2, 3)]
    await _settle()
    gate.set_result(None)
    await first
    (await writes.next_write()).set_exception(RuntimeError("refused"))
    for task in failing:
        with pytest.raises(RuntimeError, match="refused"):
            await task
    after = asyncio.create_task(group.record(rec("r4")))
    (await writes.next_write()).set_result(None)
    await after
    assert writes.batches[-1] == [("r4", 0.5)]


async def test_one_run_id_twice_in_a_batch_is_written_once_the_last_wins() -> None:
    writes = Writes()
    group = RecordGroup(writes)
    first = asyncio.create_task(group.record(rec("r1")))
    gate = await writes.next_write()
    again = [asyncio.create_task(group.record(rec("r2", cost))) for cost in (1.0, 2.0)]
    await _settle()
    gate.set_result(None)
    (await writes.next_write()).set_result(None)
    await asyncio.gather(first, *again)
    assert writes.batches[1] == [("r2", 2.0)]


async def test_a_cancelled_caller_still_has_its_record_written() -> None:
    writes = Writes()
    group = RecordGroup(writes)
    first = asyncio.create_task(group.record(rec("r1")))
    gate = await writes.next_write()
    waiting = asyncio.create_task(group.record(rec("r2")))
    await _settle()
    waiting.cancel()
    gate.set_result(None)
    await first
    (await writes.next_write()).set_result(None)
    await group.drain()
    assert writes.batches == [[("r1", 0.5)], [("r2", 0.5)]]
    assert waiting.cancelled()
