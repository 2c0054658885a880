"""Budgets and rate limits over HTTP: 402 `budget_exceeded` and 429 `rate_limited` with
Retry-After, before anything is stored (native and OpenAI routes); GET /v1/usage."""

from __future__ import annotations

import pytest

from agenthost.backends.usage.memory import MemoryUsageStore
from agenthost.core.usage import Pricing
from agenthost.engine.budgets import BudgetRules, Limits, Meter, RateWindow
from agenthost.engine.runner import Runner
from agenthost.ports.sessions import SessionStore

from .conftest import Gate, Users, make_runner

USAGE = MemoryUsageStore()


@pytest.fixture
def runners(store: SessionStore, gate: Gate) -> dict[str, Runner]:
    global USAGE
    USAGE = MemoryUsageStore()
    helper = make_runner(store, "helper", gate)
    helper.meter = Meter(
        usage=USAGE,
        pricing=Pricing(per_request=1.0),
        rules=[(BudgetRules(user=Limits(cost_per_day=1.5), where="agent 'helper'"), RateWindow())],
        agent="helper",
    )
    other = make_runner(store, "other", gate)
    other.meter = Meter(
        usage=USAGE,
        rules=[(BudgetRules(session=Limits(runs_per_minute=1)), RateWindow())],
        agent="other",
    )
    return {"helper": helper, "other": other}


async def test_a_spent_budget_is_a_402_with_retry_after(users: Users) -> None:
    for text in ("one", "two"):
        ok = await users.alice.post("/v1/apps/helper/runs", json={"message": text, "stream": False})
        assert ok.status_code == 200 and ok.json()["usage"]["cost"] == 1.0
    refused = await users.alice.post("/v1/apps/helper/runs", json={"message": "three"})
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and error["field"] == "user_id"
    assert "budgets.user.cost_per_day" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86400
    sessions = (await users.alice.get("/v1/apps/helper/sessions")).json()["sessions"]
    assert len(sessions) == 2  # the refused run stored nothing
    chat = await users.alice.post(
        "/v1/chat/completions",
        json={"model": "helper", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 402 and chat.json()["error"]["type"] == "insufficient_quota"
    bob = await users.bob.post("/v1/apps/helper/runs", json={"message": "hi", "stream": False})
    assert bob.status_code == 200  # budgets are per user


async def test_too_many_runs_is_a_429_with_retry_after(users: Users) -> None:
    first = await users.alice.post("/v1/apps/other/sessions/s1/runs", json={"message": "x"})
    assert first.status_code == 404  # no such session: nothing counted
    await users.alice.post("/v1/apps/other/sessions", json={"session_id": "s1"})
    ok = await users.alice.post("/v1/apps/other/sessions/s1/runs", json={"message": "x"})
    assert ok.status_code == 200
    limited = await users.alice.post("/v1/apps/other/sessions/s1/runs", json={"message": "y"})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["retryable"] is True
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    other_session = await users.alice.post("/v1/apps/other/runs", json={"message": "z"})
    assert other_session.status_code == 200


async def test_usage_route_per_user_and_for_admins(users: Users) -> None:
    await users.alice.post("/v1/apps/helper/runs", json={"message": "a", "stream": False})
    await users.bob.post("/v1/apps/helper/runs", json={"message": "b", "stream": False})
    await users.bob.post("/v1/apps/other/runs", json={"message": "c", "stream": False})
    mine = (await users.alice.get("/v1/usage?by=agent")).json()
    assert [(r["key"], r["runs"], r["cost"]) for r in mine["rows"]] == [("helper", 1, 1.0)]
    everyone = (await users.admin.get("/v1/usage?by=user")).json()
    assert [(r["key"], r["runs"]) for r in everyone["rows"]] == [("alice", 1), ("bob", 2)]
    only = (await users.admin.get("/v1/usage?by=user&agent=other")).json()
    assert [r["key"] for r in only["rows"]] == ["bob"]
    forbidden = await users.alice.get("/v1/usage?user=bob")
    assert forbidden.status_code == 403
    bad = await users.alice.get("/v1/usage?since=yesterday")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"
    future = (await users.alice.get("/v1/usage?since=2999-01-01")).json()
    assert future["rows"] == [] and future["total_cost"] == 0
