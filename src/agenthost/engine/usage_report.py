"""Usage records summed into rows by user, agent or day (UTC): what `agenthost usage` prints
and `GET /v1/usage` answers."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from datetime import date
from typing import Literal

import msgspec

from agenthost.core.errors import InvalidArgument
from agenthost.core.usage import UsageRecord

GroupBy = Literal["user", "agent", "day"]
GROUPS: tuple[GroupBy, ...] = ("user", "agent", "day")


class UsageRow(msgspec.Struct, kw_only=True):
    """The runs of one user, agent or day, and what they used and cost (USD)."""

    key: str
    runs: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost: float = 0.0


def day_of(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def parse_day(value: str, *, field: str = "since") -> float:
    """'2025-11-03' -> the Unix time of that day's start (UTC)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, f"{value!r} is not a date: write YYYY-MM-DD") from None
    return float(calendar.timegm(day.timetuple()))


def summarize(records: Iterable[UsageRecord], by: GroupBy) -> list[UsageRow]:
    """One row per user, agent or day, sorted by that key (days oldest first)."""
    if by not in GROUPS:
        raise InvalidArgument("by", f"must be one of {', '.join(GROUPS)}, got {by!r}")
    rows: dict[str, UsageRow] = {}
    for record in records:
        if by == "user":
            key = record.user_id
        elif by == "agent":
            key = record.agent or record.app
        else:
            key = day_of(record.started_at)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UsageRow(key=key)
        row.runs += 1
        row.failed += record.status not in ("completed", "paused")
        row.input_tokens += record.input_tokens
        row.output_tokens += record.output_tokens
        row.requests += record.requests
        row.cost += record.cost
    return [rows[k] for k in sorted(rows)]
