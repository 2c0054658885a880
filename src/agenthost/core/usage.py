"""Token usage and cost."""

from __future__ import annotations

import msgspec


class Usage(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Token counts of one or more model calls. Add two with `+`."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost: float = 0.0  # in USD; 0 when no price is known

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            requests=self.requests + other.requests,
            cost=self.cost + other.cost,
        )


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """USD per one million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000


class Pricing(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An agent's own prices, in USD: `per_request` for every run (one message the agent
    answers, however many model calls it takes), and optionally per million tokens.

    The rule: with neither token price given, a run costs what its models' prices say (the
    model table, or a provider's `prices:`) plus `per_request`; with either one given, the
    agent's token prices replace the models' (a missing one counts as 0).
    """

    per_request: float = 0.0
    input_per_million: float | None = None
    output_per_million: float | None = None

    def cost(self, usage: Usage) -> float:
        """The cost of a run that used `usage` (whose `cost` is its models' price)."""
        if self.input_per_million is None and self.output_per_million is None:
            tokens = usage.cost
        else:
            tokens = (
                usage.input_tokens * (self.input_per_million or 0.0)
                + usage.output_tokens * (self.output_per_million or 0.0)
            ) / 1_000_000
        return tokens + self.per_request

    def apply(self, usage: Usage) -> Usage:
        """`usage` with its cost under these prices."""
        return Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            requests=usage.requests,
            cost=self.cost(usage),
        )


class UsageRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What one run used and cost, as a usage store keeps it (one per run, by `run_id`).

    `app` is the runner's app (`<config app>/<agent>` under a config), `agent` the agent's
    name; `started_at` / `finished_at` are Unix seconds; `status` the run's (completed,
    paused, failed, cancelled, interrupted)."""

    run_id: str
    app: str
    agent: str
    user_id: str
    session_id: str
    started_at: float
    finished_at: float
    status: str
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost: float = 0.0
