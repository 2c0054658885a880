"""Pricing, budgets and rate limits: the Runner's meter.

A `Meter` does three things for a Runner (all optional; a Runner without one does none):

- `check(key)` before a run starts (before the session lock, before anything is stored):
  the cost budgets of the user and of the session (per UTC day, per UTC month, in total,
  summed from the usage store), then the rate limits (runs a minute, counted in this
  process), each from the agent's own rules and from the shared (global) rules. A refusal is
  `BudgetExceeded` (HTTP 402) or `RateLimited` (HTTP 429), both with `retry_after`.
- `price(usage)` at the run's end: the run's cost under the agent's `Pricing`
  (core/usage.py states the rule), which the terminal event carries.
- `record(...)` right after the terminal event is stored: one `UsageRecord` in the usage
  store (by run id, so writing it again replaces it).

Budgets are checked before a run, not during it: a run that starts under the budget is
finished even when it goes over (the next one is refused). Two runs checked at the same
moment both pass. Rate limits count the runs started in this process: with several replicas
each allows its own.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agenthost.core.errors import BudgetExceeded, ConfigError, RateLimited
from agenthost.core.events import Event
from agenthost.core.session import SessionKey
from agenthost.core.usage import Pricing, Usage, UsageRecord
from agenthost.ports.usage import UsageQuery, UsageStore

log = logging.getLogger("agenthost.budgets")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The limits of one scope (a user, or a session); None = no limit. Costs in USD."""

    cost_per_day: float | None = None
    cost_per_month: float | None = None
    cost_total: float | None = None
    runs_per_minute: int | None = None

    @property
    def any_cost(self) -> bool:
        return any(v is not None for v in (self.cost_per_day, self.cost_per_month, self.cost_total))


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetRules:
    """Limits per user and per session. `where` names them in messages ("agent 'helper'",
    "all agents of app 'shop'"); `app_prefix` (shared rules) sums the usage of every app that
    starts with it instead of the runner's own app."""

    user: Limits = field(default_factory=Limits)
    session: Limits = field(default_factory=Limits)
    where: str = "this agent"
    app_prefix: str | None = None

    @property
    def empty(self) -> bool:
        return self.user == Limits() and self.session == Limits()


class RateWindow:
    """Runs started in the last minute, per key, in this process (a sliding window)."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._starts: dict[tuple[str, ...], deque[float]] = {}

    def wait_for(self, key: tuple[str, ...], limit: int) -> float | None:
        """Seconds until one more run is allowed under `key`, or None if it is now."""
        now = self._clock()
        starts = self._starts.get(key)
        if starts is None:
            return None
        while starts and starts[0] <= now - 60.0:
            starts.popleft()
        if len(starts) < limit:
            return None
        return starts[0] + 60.0 - now

    def take(self, key: tuple[str, ...]) -> None:
        self._starts.setdefault(key, deque()).append(self._clock())
        if len(self._starts) > 100_000:  # forget idle keys now and then
            now = self._clock()
            for k in [k for k, q in self._starts.items() if not q or q[-1] <= now - 60.0]:
                del self._starts[k]


@dataclass(slots=True)
class _Rule:
    rules: BudgetRules
    window: RateWindow


def day_start(now: float) -> float:
    return now - now % 86400


def month_start(now: float) -> float:
    t = time.gmtime(now)
    return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))


def month_end(now: float) -> float:
    t = time.gmtime(now)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


class Meter:
    """Prices, checks and records the runs of one Runner (see the module doc).

    `usage`: where records go and budgets are summed from (None: no records; cost budgets
    then cannot be checked, which is an error). `rules`: the agent's own budget rules, then
    shared ones, each with its `RateWindow` (share a window between meters to share a rate
    limit)."""

    def __init__(
        self,
        *,
        usage: UsageStore | None = None,
        pricing: Pricing | None = None,
        rules: Sequence[tuple[BudgetRules, RateWindow]] = (),
        agent: str = "",
        clock: Clock = time.time,
    ) -> None:
        self.usage = usage
        self.pricing = pricing
        self.agent = agent
        self._clock = clock
        self._rules = [_Rule(r, w) for r, w in rules if not r.empty]
        if usage is None and any(
            r.rules.user.any_cost or r.rules.session.any_cost for r in self._rules
        ):
            raise ConfigError(
                "Cost budgets need a usage store to sum what was spent: give the Meter one "
                "(in agenthost.yaml the store's URL, or usage.url, provides it)."
            )

    # ---- before a run ---------------------------------------------------------------------

    async def check(self, key: SessionKey) -> None:
        """Raise BudgetExceeded or RateLimited if this user or session may not run now."""
        if not self._rules:
            return
        now = self._clock()
        for rule in self._rules:
            await self._check_costs(rule.rules, key, now)
        takes: list[tuple[RateWindow, tuple[str, ...]]] = []
        for rule in self._rules:
            takes.extend(self._check_rates(rule, key))
        for window, wkey in takes:  # counted only once every limit let it through
            window.take(wkey)

    async def _check_costs(self, rules: BudgetRules, key: SessionKey, now: float) -> None:
        assert self.usage is not None or not (rules.user.any_cost or rules.session.any_cost)
        app = None if rules.app_prefix is not None else key.app
        for scope, limits, subject in (
            ("user", rules.user, key.user_id),
            ("session", rules.session, key.session_id),
        ):
            if not limits.any_cost:
                continue
            base = UsageQuery(
                app=app,
                app_prefix=rules.app_prefix,
                user_id=key.user_id,
                session_id=key.session_id if scope == "session" else None,
            )
            for period, limit, since, ends in (
                ("day", limits.cost_per_day, day_start(now), day_start(now) + 86400),
                ("month", limits.cost_per_month, month_start(now), month_end(now)),
                ("total", limits.cost_total, None, None),
            ):
                if limit is None:
                    continue
                assert self.usage is not None
                query = UsageQuery(
                    app=base.app,
                    app_prefix=base.app_prefix,
                    user_id=base.user_id,
                    session_id=base.session_id,
                    since=since,
                )
                spent = await self.usage.total_cost(query)
                if spent >= limit:
                    raise BudgetExceeded(
                        scope=scope,
                        subject=subject,
                        period=period,
                        limit=limit,
                        spent=spent,
                        where=rules.where,
                        retry_after=None if ends is None else ends - now,
                    )

    @staticmethod
    def _check_rates(rule: _Rule, key: SessionKey) -> list[tuple[RateWindow, tuple[str, ...]]]:
        rules = rule.rules
        scope_app = rules.app_prefix if rules.app_prefix is not None else key.app
        takes: list[tuple[RateWindow, tuple[str, ...]]] = []
        for scope, limit, wkey, subject in (
            ("user", rules.user.runs_per_minute, (scope_app, "u", key.user_id), key.user_id),
            (
                "session",
                rules.session.runs_per_minute,
                (key.app, "s", key.user_id, key.session_id),
                key.session_id,
            ),
        ):
            if limit is None:
                continue
            wait = rule.window.wait_for(wkey, limit)
            if wait is not None:
                raise RateLimited(
                    scope=scope, subject=subject, limit=limit, where=rules.where, retry_after=wait
                )
            takes.append((rule.window, wkey))
        return takes

    # ---- at the end -----------------------------------------------------------------------

    def price(self, usage: Usage) -> Usage:
        """The run's usage with its cost under the agent's pricing (as is without one)."""
        return usage if self.pricing is None else self.pricing.apply(usage)

    async def record(self, terminal: Event, started_at: float) -> None:
        """Store the run's usage record (a failure is logged: the run's outcome stands)."""
        if self.usage is None:
            return
        usage = terminal.usage or Usage()
        status = str((terminal.data or {}).get("status") or terminal.type.split(".")[-1])
        record = UsageRecord(
            run_id=terminal.run_id,
            app=terminal.app,
            agent=self.agent,
            user_id=terminal.user_id,
            session_id=terminal.session_id,
            started_at=started_at,
            finished_at=terminal.timestamp,
            status=status,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            requests=usage.requests,
            cost=usage.cost,
        )
        try:
            await self.usage.record(record)
        except Exception:
            log.exception("run %s: its usage record could not be stored", terminal.run_id)
