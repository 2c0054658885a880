"""`pricing:` and `budgets:` in agenthost.yaml (see docs/pricing.md).

budgets:                       # shared: every agent of the file counts together
  user: {cost_per_day: 5, runs_per_minute: 20}
agents:
  helper:
    pricing: {per_request: 0.001, input_per_million: 0.5, output_per_million: 1.5}
    budgets:                   # this agent only
      user: {cost_per_month: 20}
      session: {cost_total: 1, runs_per_minute: 6}
usage: {url: sqlite:///usage.db}   # where usage is kept (default: the store's URL)
"""

from __future__ import annotations

from agenthost.config._types import ConfigStruct, NonNegativeFloat, PositiveInt


class PricingConfig(ConfigStruct):
    """An agent's prices in USD: `per_request` for every run, plus, if given, its own prices
    per million tokens, which then replace its models' prices."""

    per_request: NonNegativeFloat = 0.0
    input_per_million: NonNegativeFloat | None = None
    output_per_million: NonNegativeFloat | None = None


class LimitsConfig(ConfigStruct):
    """One scope's limits: costs in USD per UTC day / month / in all, runs a minute."""

    cost_per_day: NonNegativeFloat | None = None
    cost_per_month: NonNegativeFloat | None = None
    cost_total: NonNegativeFloat | None = None
    runs_per_minute: PositiveInt | None = None


class BudgetsConfig(ConfigStruct):
    """Limits per user (all their sessions) and per session (one conversation)."""

    user: LimitsConfig | None = None
    session: LimitsConfig | None = None


class UsageConfig(ConfigStruct):
    """Where each run's usage and cost are kept: `url` (default: the store's URL; memory,
    sqlite and postgresql have usage stores), or `enabled: false` to keep none."""

    url: str | None = None
    enabled: bool = True
