"""The usage store port: what each run used and cost, one record per run.

The Runner writes a record when a run ends (right after its terminal event is stored);
budgets read sums from it before a run starts; `agenthost usage` and `GET /v1/usage` report
from it. So cost is queryable without reading any session's events.

Backends (`agenthost.backends.usage`, by URL like the session stores): memory, SQLite (a
`usage` table in the session store's file), Postgres. One contract suite
(tests/contract/test_usage_store.py) runs against each.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable

import msgspec

from agenthost.core.usage import UsageRecord


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which records: every field given narrows the set. `app` is an exact app,
    `app_prefix` matches every app that starts with it (`"myapp/"`: all agents of a config);
    `since` / `until` bound `started_at` (Unix seconds, `since` included, `until` not)."""

    app: str | None = None
    app_prefix: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    since: float | None = None
    until: float | None = None

    def matches(self, record: UsageRecord) -> bool:
        return (
            (self.app is None or record.app == self.app)
            and (self.app_prefix is None or record.app.startswith(self.app_prefix))
            and (self.user_id is None or record.user_id == self.user_id)
            and (self.session_id is None or record.session_id == self.session_id)
            and (self.since is None or record.started_at >= self.since)
            and (self.until is None or record.started_at < self.until)
        )


@runtime_checkable
class UsageStore(Protocol):
    """- `record` stores one run's record; recording the same `run_id` again replaces it.
    - `total_cost` is the sum of `cost` over the matching records (0.0 when none).
    - `records` gives the matching records, oldest first (`limit`: the newest that many)."""

    async def record(self, record: UsageRecord) -> None: ...

    async def total_cost(self, query: UsageQuery) -> float: ...

    async def records(
        self, query: UsageQuery, *, limit: int | None = None
    ) -> list[UsageRecord]: ...

    async def __aenter__(self) -> UsageStore: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
