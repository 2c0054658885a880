"""From `pricing:`, `budgets:` and `usage:` of the config to each runner's Meter
(engine/budgets.py): the usage store is opened once and shared by every agent, and so are
the shared (top-level) budgets' rate windows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from agenthost.config._budgets import BudgetsConfig, LimitsConfig
from agenthost.config.paths import default_store_url
from agenthost.config.schema import AgentHostConfig
from agenthost.core.errors import ConfigError, InvalidArgument
from agenthost.core.usage import Pricing
from agenthost.engine.budgets import BudgetRules, Limits, Meter, RateWindow
from agenthost.ports.usage import UsageStore

log = logging.getLogger("agenthost.config")


def usage_url(config: AgentHostConfig, home: Path) -> str | None:
    """Where usage is kept: `usage.url`, else the store's URL when it has a usage store."""
    from agenthost.backends.usage import has_usage_store

    if not config.usage.enabled:
        return None
    if config.usage.url is not None:
        return config.usage.url
    url = config.store.url or default_store_url(home)
    if has_usage_store(url):
        return url
    log.info("usage is not recorded: %s:// has no usage store (set usage.url)", url.split(":")[0])
    return None


@asynccontextmanager
async def open_usage(config: AgentHostConfig, home: Path) -> AsyncIterator[UsageStore | None]:
    """The config's usage store, opened (None when usage is not kept)."""
    from agenthost.backends.usage import open_usage_store

    url = usage_url(config, home)
    if url is None:
        yield None
        return
    try:
        store = open_usage_store(url)
    except (ConfigError, InvalidArgument) as exc:
        raise ConfigError(f"usage.url: {exc.message}") from exc
    async with store as opened:
        yield opened


@dataclass(slots=True)
class SharedBudgets:
    """The config's top-level budgets with their rate window (one per server)."""

    rules: BudgetRules
    window: RateWindow


def _limits(config: LimitsConfig | None) -> Limits:
    if config is None:
        return Limits()
    return Limits(
        cost_per_day=config.cost_per_day,
        cost_per_month=config.cost_per_month,
        cost_total=config.cost_total,
        runs_per_minute=config.runs_per_minute,
    )


def _rules(budgets: BudgetsConfig, *, where: str, app_prefix: str | None = None) -> BudgetRules:
    return BudgetRules(
        user=_limits(budgets.user),
        session=_limits(budgets.session),
        where=where,
        app_prefix=app_prefix,
    )


def shared_budgets(config: AgentHostConfig) -> SharedBudgets | None:
    if config.budgets is None:
        return None
    rules = _rules(
        config.budgets, where=f"all agents of app {config.app!r}", app_prefix=f"{config.app}/"
    )
    return SharedBudgets(rules, RateWindow())


def make_meter(
    config: AgentHostConfig,
    name: str,
    usage: UsageStore | None,
    shared: SharedBudgets | None,
) -> Meter | None:
    """The Meter of agent `name` (None when there is nothing to price, check or record)."""
    entry = config.select_agent(name)[1]
    rules: list[tuple[BudgetRules, RateWindow]] = []
    if entry.budgets is not None:
        rules.append((_rules(entry.budgets, where=f"agent {name!r}"), RateWindow()))
    if shared is not None:
        rules.append((shared.rules, shared.window))
    pricing = None
    if entry.pricing is not None:
        p = entry.pricing
        pricing = Pricing(
            per_request=p.per_request,
            input_per_million=p.input_per_million,
            output_per_million=p.output_per_million,
        )
    if usage is None and pricing is None and not rules:
        return None
    try:
        return Meter(usage=usage, pricing=pricing, rules=rules, agent=name)
    except ConfigError as exc:
        raise ConfigError(
            f"agents.{name}.budgets / budgets: cost limits need usage records, and usage is "
            f"not kept ({exc.message}). Set usage.url (memory://, sqlite:///..., "
            f"postgresql://...) or leave out the cost limits."
        ) from exc
