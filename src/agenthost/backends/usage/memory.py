"""The usage store of `memory://`: a dict in this process, lost at exit."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from agenthost.core.usage import UsageRecord
from agenthost.ports.usage import UsageQuery


class MemoryUsageStore:
    def __init__(self) -> None:
        self._records: dict[str, UsageRecord] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryUsageStore:
        return cls()

    async def record(self, record: UsageRecord) -> None:
        self._records.pop(record.run_id, None)
        self._records[record.run_id] = record

    async def total_cost(self, query: UsageQuery) -> float:
        return sum(r.cost for r in self._records.values() if query.matches(r))

    async def records(self, query: UsageQuery, *, limit: int | None = None) -> list[UsageRecord]:
        found = sorted(
            (r for r in self._records.values() if query.matches(r)), key=lambda r: r.started_at
        )
        return found[-limit:] if limit is not None else found

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
