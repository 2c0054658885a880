"""Pricing, budgets and rate limits, through a real Runner (engine/budgets.py)."""

from __future__ import annotations

import time

import pytest

from agenthost.backends.usage.memory import MemoryUsageStore
from agenthost.core.errors import BudgetExceeded, ConfigError, RateLimited
from agenthost.core.usage import Pricing, Usage
from agenthost.engine.budgets import BudgetRules, Limits, Meter, RateWindow, month_start
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.ports.sessions import SessionStore
from agenthost.ports.usage import UsageQuery
from agenthost.testing.scripted import ScriptedModel

USAGE = Usage(input_tokens=1000, output_tokens=500, requests=1, cost=0.002)


class Clock:
    """Now (runs are recorded at the real time), moved on by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def runner(store: SessionStore, meter: Meter, replies: int = 10) -> Runner:
    model = ScriptedModel(["hello"] * replies, usage=USAGE, name="test:m")
    return Runner(LLMAgent(model=model, name="helper"), store=store, app="shop/helper", meter=meter)


async def test_pricing_sets_the_cost_of_each_run_and_it_is_recorded(store: SessionStore) -> None:
    usage = MemoryUsageStore()
    meter = Meter(usage=usage, pricing=Pricing(per_request=0.01), agent="helper")
    events = await collect(runner(store, meter).run("u1", "s1", "hi"))
    terminal = events[-1]
    assert terminal.type == "run.completed"
    # the model's price (0.002) plus the price per request
    assert terminal.usage is not None and terminal.usage.cost == pytest.approx(0.012)
    assert terminal.data is not None and terminal.data["cost"] == pytest.approx(0.012)
    [record] = await usage.records(UsageQuery(user_id="u1"))
    assert (record.run_id, record.app, record.agent, record.session_id, record.status) == (
        terminal.run_id,
        "shop/helper",
        "helper",
        "s1",
        "completed",
    )
    assert (record.input_tokens, record.output_tokens, record.cost) == (1000, 500, 0.012)


def test_token_prices_of_the_agent_replace_the_models() -> None:
    pricing = Pricing(per_request=0.5, input_per_million=1.0, output_per_million=4.0)
    assert pricing.cost(USAGE) == pytest.approx(0.5 + 0.001 + 0.002)
    only_input = Pricing(input_per_million=2.0)  # the other one counts as 0
    assert only_input.cost(USAGE) == pytest.approx(0.002)
    assert Pricing().cost(USAGE) == pytest.approx(0.002)  # the models' cost as is


async def test_a_user_over_the_daily_budget_is_refused_before_anything_is_stored(
    store: SessionStore,
) -> None:
    clock = Clock()
    rules = BudgetRules(user=Limits(cost_per_day=0.02), where="agent 'helper'")
    meter = Meter(
        usage=MemoryUsageStore(),
        pricing=Pricing(per_request=0.01),
        rules=[(rules, RateWindow(clock))],
        agent="helper",
        clock=clock,
    )
    r = runner(store, meter)
    await collect(r.run("u1", "s1", "one"))  # 0.012 spent
    await collect(r.run("u1", "s2", "two"))  # 0.024: over, but it started under
    with pytest.raises(BudgetExceeded) as caught:
        await collect(r.run("u1", "s3", "three"))
    error = caught.value
    assert error.code == "budget_exceeded" and error.scope == "user" and error.period == "day"
    assert error.spent == pytest.approx(0.024) and error.limit == 0.02
    assert error.retry_after is not None and 0 < error.retry_after <= 86400
    assert "'u1'" in error.message and "cost_per_day" in error.message
    assert [s.id for s in await r.list_sessions("u1")].count("s3") == 0
    await collect(r.run("u2", "s4", "another user"))  # someone else still may
    clock.now += 86400  # the next day (UTC) the budget is fresh
    await collect(r.run("u1", "s3", "tomorrow"))


async def test_a_session_budget_in_total_and_the_monthly_one(store: SessionStore) -> None:
    clock = Clock()
    rules = BudgetRules(session=Limits(cost_total=0.01), user=Limits(cost_per_month=0.03))
    meter = Meter(
        usage=MemoryUsageStore(),
        pricing=Pricing(per_request=0.01),
        rules=[(rules, RateWindow(clock))],
        clock=clock,
    )
    r = runner(store, meter)
    await collect(r.run("u1", "s1", "one"))
    with pytest.raises(BudgetExceeded) as caught:
        await collect(r.run("u1", "s1", "again"))
    assert caught.value.scope == "session" and caught.value.retry_after is None
    assert "new session" in caught.value.message
    await collect(r.run("u1", "s2", "a new session may"))
    await collect(r.run("u1", "s3", "and another"))
    with pytest.raises(BudgetExceeded) as month:
        await collect(r.run("u1", "s4", "over the month"))
    assert month.value.period == "month"
    left = month.value.retry_after
    assert left is not None and 0 < left <= 31 * 86400
    assert month_start(clock.now + left) == clock.now + left  # the start of the next month


async def test_runs_per_minute_per_user_and_per_session(store: SessionStore) -> None:
    clock = Clock()
    rules = BudgetRules(user=Limits(runs_per_minute=3), session=Limits(runs_per_minute=2))
    r = runner(store, Meter(rules=[(rules, RateWindow(clock))], clock=clock))
    await collect(r.run("u1", "s1", "1"))
    clock.now += 10
    await collect(r.run("u1", "s1", "2"))
    with pytest.raises(RateLimited) as session_limit:
        await collect(r.run("u1", "s1", "3"))
    assert session_limit.value.scope == "session"
    assert session_limit.value.retry_after == pytest.approx(50)
    await collect(r.run("u1", "s2", "another session"))
    with pytest.raises(RateLimited) as user_limit:
        await collect(r.run("u1", "s3", "a fourth run"))
    assert user_limit.value.scope == "user" and user_limit.value.code == "rate_limited"
    assert user_limit.value.retryable
    clock.now += 51  # the first run left the window
    await collect(r.run("u1", "s3", "now it may"))


async def test_shared_rules_count_every_app_with_the_prefix(store: SessionStore) -> None:
    usage = MemoryUsageStore()
    clock = Clock()
    shared = (
        BudgetRules(user=Limits(cost_per_day=0.02), app_prefix="shop/", where="all"),
        RateWindow(clock),
    )
    pricing = Pricing(per_request=0.01)
    a = runner(store, Meter(usage=usage, pricing=pricing, rules=[shared], clock=clock))
    model = ScriptedModel(["x"] * 5, usage=USAGE, name="test:m")
    b = Runner(
        LLMAgent(model=model, name="other"),
        store=store,
        app="shop/other",
        meter=Meter(usage=usage, pricing=pricing, rules=[shared], clock=clock),
    )
    await collect(a.run("u1", "s1", "one"))
    await collect(b.run("u1", "s2", "two"))
    with pytest.raises(BudgetExceeded):
        await collect(a.run("u1", "s3", "three"))
    assert await usage.total_cost(UsageQuery(app_prefix="shop/")) == pytest.approx(0.024)


def test_cost_limits_without_a_usage_store_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="usage store"):
        Meter(rules=[(BudgetRules(user=Limits(cost_per_day=1)), RateWindow())])
