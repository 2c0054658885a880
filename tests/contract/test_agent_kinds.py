"""One contract for every agent kind: each scenario runs against each kind's fake upstream,
through the real Runner. The kinds: dify, coze, bailian and llm (agent_kinds.py), the five
framework adapters (adapter_kinds.py), chain, parallel, loop and transfer (composition_kinds.py),
plugin over stdio and HTTP (plugin_kinds.py, marked integration: they start processes) and
a2a (a2a_kinds.py).

A scenario that does not apply to a kind is marked "not applicable" in the parametrization,
with the reason; a known bug of a kind is a strict xfail naming it (`Kind.known_gaps`), so
the fix shows. What is specific to one platform (Dify's message_replace, Coze's own tools,
DashScope usage sums, ...) stays in tests/unit/backends/agents/test_<platform>.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.backends.agents import _platform
from agenthost.backends.sessions import open_session_store
from agenthost.core.events import Event
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from tests.unit.backends.agents.fake_platform import BREAK, HANG, FakePlatform, Reply

from .a2a_kinds import A2A_KINDS
from .adapter_kinds import ADAPTER_KINDS
from .agent_kinds import KINDS as PLATFORM_KINDS
from .agent_kinds import Kind
from .composition_kinds import COMPOSITION_KINDS
from .plugin_kinds import PLUGIN_KINDS

KINDS: list[Kind] = [*PLATFORM_KINDS, *ADAPTER_KINDS, *COMPOSITION_KINDS, *PLUGIN_KINDS, *A2A_KINDS]
RETRIES_ITSELF = "it tries a busy upstream again itself (busy_retried)"

PLATFORM_ENV = ("DIFY_BASE_URL", "COZE_BASE_URL", "BAILIAN_BASE_URL", "FAKE_BASE_URL")


def kinds(scenario: str) -> list[Any]:
    """Every kind, those the scenario does not apply to marked so (with the reason)."""
    out = []
    for kind in KINDS:
        why = kind.not_applicable.get(scenario)
        if scenario == "busy_reported" and "busy_retried" not in kind.not_applicable:
            why = RETRIES_ITSELF
        marks = [pytest.mark.skip(reason=f"not applicable to {kind.name}: {why}")] if why else []
        if kind.integration:
            marks.append(pytest.mark.integration)
        gap = kind.known_gaps.get(scenario)
        if gap:  # strict: once fixed, the test says so and the mark must go
            marks.append(pytest.mark.xfail(reason=f"known gap in {kind.name}: {gap}"))
        out.append(pytest.param(kind, id=kind.name, marks=marks))
    return out


@pytest.fixture(autouse=True)
def no_platform_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PLATFORM_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform() as server:
        yield server
    for kind in KINDS:
        await kind.aclose()


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between two tries of a platform agent (recorded, not slept)."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(_platform, "pause", record)
    return waits


def last(events: list[Event]) -> Event:
    assert events[-1].is_terminal, [e.type for e in events]
    return events[-1]


def failed(events: list[Event]) -> Any:
    end = last(events)
    assert end.type == "run.failed" and end.error is not None, [e.type for e in events]
    return end.error


async def run(
    kind: Kind, fake: FakePlatform, store: SessionStore, text: str = "hi", **options: Any
) -> list[Event]:
    async with Runner(
        kind.agent(fake, **options), store=store, app="t", **kind.runner_options()
    ) as runner:
        return await collect(runner.run("u1", "s1", text))


# ---- scenarios -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds("streamed_reply"))
async def test_a_streamed_reply(kind: Kind, fake: FakePlatform, store: SessionStore) -> None:
    fake.add(kind.path, kind.reply(["Hel", "lo"]))
    events = await run(kind, fake, store)
    assert last(events).type == "run.completed"
    deltas = [e.text for e in events if e.type == "message.delta"]
    assert sorted(deltas) == sorted(["Hel", "lo"] * kind.calls_per_turn)
    assert final_text(events) == kind.answer("Hello")
    assert len(fake.calls(kind.path)) == kind.calls_per_turn


@pytest.mark.parametrize("kind", kinds("history"))
async def test_turn_two_continues_the_conversation(
    kind: Kind, fake: FakePlatform, store: SessionStore
) -> None:
    fake.add(kind.path, kind.reply(["Hel", "lo"]))
    async with Runner(kind.agent(fake), store=store, app="t", **kind.runner_options()) as runner:
        await collect(runner.run("u1", "s1", "hi"))
        events = await collect(runner.run("u1", "s1", "again"))
    assert last(events).type == "run.completed"
    calls = fake.calls(kind.path)
    assert len(calls) == 2 * kind.calls_per_turn
    kind.assert_turn_two(calls[0], calls[kind.calls_per_turn])


@pytest.mark.parametrize("kind", kinds("tool_round_trip"))
async def test_a_tool_round_trip(kind: Kind, fake: FakePlatform, store: SessionStore) -> None:
    kind.script_tool_round_trip(fake)
    events = await run(kind, fake, store, "weather in P?")
    names = [e.type for e in events if not e.partial]
    assert names.index("tool.call.started") < names.index("tool.call.completed")
    started = next(e for e in events if e.type == "tool.call.started")
    assert started.data is not None and started.data["tool_name"] == "get_weather"
    completed = next(e for e in events if e.type == "tool.call.completed")
    assert "sunny" in completed.text
    assert final_text(events) == kind.answer("It is sunny.")
    assert last(events).type == "run.completed"


@pytest.mark.parametrize("kind", kinds("auth_error"))
async def test_an_auth_error_fails_at_once(
    kind: Kind, fake: FakePlatform, store: SessionStore, pauses: list[float]
) -> None:
    fake.add(kind.path, kind.error(401))
    error = failed(await run(kind, fake, store))
    assert error.retryable is False
    assert "401" in error.message
    assert len(fake.calls(kind.path)) == kind.branches and pauses == []  # never retried


@pytest.mark.parametrize("retry_after", [None, "0"], ids=["no-retry-after", "retry-after"])
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("kind", kinds("busy_retried"))
async def test_a_busy_upstream_is_tried_again(
    kind: Kind,
    fake: FakePlatform,
    store: SessionStore,
    pauses: list[float],
    status: int,
    retry_after: str | None,
) -> None:
    fake.add(kind.path, kind.error(status, retry_after=retry_after), kind.reply(["Hel", "lo"]))
    events = await run(kind, fake, store)
    assert last(events).type == "run.completed" and final_text(events) == kind.answer("Hello")
    assert len(fake.calls(kind.path)) == kind.calls_per_turn + 1
    if kind.pauses_between_tries:
        assert pauses == [0.0 if retry_after == "0" else 0.5]


@pytest.mark.parametrize("kind", kinds("busy_retried"))
async def test_retry_after_is_honoured_and_retries_end(
    kind: Kind, fake: FakePlatform, store: SessionStore, pauses: list[float]
) -> None:
    fake.add(kind.path, kind.error(429, retry_after="7"), kind.error(503))
    error = failed(await run(kind, fake, store, retries=2))
    assert error.retryable is True
    assert len(fake.calls(kind.path)) == 3 * kind.branches  # the first try and 2 retries
    if kind.pauses_between_tries:
        assert pauses == [7.0, 1.0]  # Retry-After, then the backoff's second step


@pytest.mark.parametrize("kind", kinds("busy_retried"))
async def test_a_too_long_retry_after_is_not_waited_for(
    kind: Kind, fake: FakePlatform, store: SessionStore, pauses: list[float]
) -> None:
    fake.add(kind.path, kind.error(429, retry_after="3600"))
    error = failed(await run(kind, fake, store))
    assert error.retryable is True
    assert len(fake.calls(kind.path)) == kind.branches and pauses == []


@pytest.mark.parametrize("retry_after", [None, "0"], ids=["no-retry-after", "retry-after"])
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("kind", kinds("busy_reported"))
async def test_a_busy_upstream_not_retried_is_a_retryable_failure(
    kind: Kind, fake: FakePlatform, store: SessionStore, status: int, retry_after: str | None
) -> None:
    fake.add(kind.path, kind.error(status, retry_after=retry_after), kind.reply(["Hel", "lo"]))
    error = failed(await run(kind, fake, store))
    assert error.retryable is True
    assert str(status) in error.message
    assert len(fake.calls(kind.path)) == kind.branches


@pytest.mark.parametrize("kind", kinds("cut_off"))
async def test_a_stream_that_breaks_off_keeps_the_partial_reply(
    kind: Kind, fake: FakePlatform, store: SessionStore, pauses: list[float]
) -> None:
    kind.script_stop(fake)
    fake.add(kind.path, kind.reply(["Hel"], tail=[BREAK]))
    async with Runner(kind.agent(fake), store=store, app="t", **kind.runner_options()) as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
        session = await runner.get_session("u1", "s1")
    error = failed(events)
    assert error.retryable is True
    assert len(fake.calls(kind.path)) == kind.branches and pauses == []  # shown: no retry
    if not kind.keeps_cut_off:
        return
    cut = next(e for e in events if e.type == "message.completed")
    assert cut.text == "Hel" and cut.data == {"incomplete": True}
    stored = [e for e in session.events if e.type == "message.completed"]
    assert [(e.text, e.data) for e in stored] == [("Hel", {"incomplete": True})] * kind.branches


@pytest.mark.parametrize("kind", kinds("silent"))
async def test_a_silent_upstream_times_out(
    kind: Kind, fake: FakePlatform, store: SessionStore, pauses: list[float]
) -> None:
    fake.add(kind.path, Reply(before=HANG))
    error = failed(await run(kind, fake, store, idle_timeout=0.2))
    assert error.code == kind.timeout_code
    assert error.retryable is True
    assert pauses == []


@pytest.mark.parametrize("kind", kinds("cancel"))
async def test_cancel_reaches_the_upstream(
    kind: Kind, fake: FakePlatform, store: SessionStore
) -> None:
    kind.script_stop(fake)
    fake.add(kind.path, kind.reply(["Hel"], tail=[HANG]))
    events: list[Event] = []
    async with Runner(kind.agent(fake), store=store, app="t", **kind.runner_options()) as runner:
        async for event in runner.run("u1", "s1", "hi", run_id="r1"):
            events.append(event)
            if event.type == "message.delta":
                runner.cancel("r1")
    assert failed(events).code == "cancelled"
    await _stopped(kind, fake)


@pytest.mark.parametrize("kind", kinds("deadline"))
async def test_the_run_deadline_stops_the_upstream(
    kind: Kind, fake: FakePlatform, store: SessionStore
) -> None:
    kind.script_stop(fake)
    fake.add(kind.path, kind.reply(["Hel"], tail=[HANG]))
    # the deadline must pass while the upstream holds the stream open; on a busy machine a
    # plugin process may not reach the upstream within the first deadline: a longer one then
    for seconds in (2.0, 8.0, 32.0, 128.0):
        async with Runner(
            kind.agent(fake), store=store, app="t", **kind.runner_options(), timeout=seconds
        ) as runner:
            events = await collect(runner.run("u1", "s1", "hi"))
        assert failed(events).code == "deadline_exceeded"
        if fake.calls(kind.path):
            break
    await _stopped(kind, fake)


@pytest.mark.parametrize("kind", kinds("stop_refused"))
async def test_a_refused_stop_is_logged_as_refused(
    kind: Kind, fake: FakePlatform, store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    kind.script_stop(fake, refuse=True)
    fake.add(kind.path, kind.reply(["Hel"], tail=[HANG]))
    events: list[Event] = []
    with caplog.at_level(logging.INFO, logger="agenthost.agents"):
        async with Runner(
            kind.agent(fake), store=store, app="t", **kind.runner_options()
        ) as runner:
            async for event in runner.run("u1", "s1", "hi", run_id="r1"):
                events.append(event)
                if event.type == "message.delta":
                    runner.cancel("r1")
    assert failed(events).code == "cancelled"
    assert len(kind.stop_requests(fake)) == 1
    refused = [r for r in caplog.records if "refused the stop request" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if "stopped the work" in r.getMessage()]


async def _stopped(kind: Kind, fake: FakePlatform) -> None:
    """The upstream learned that the work is over: its stop request (exactly as documented),
    or, where it has none, the stream's connection closed."""
    if kind.stops_by_request:
        assert len(kind.stop_requests(fake)) == 1
    else:
        calls = fake.calls(kind.path)
        assert calls
        async with asyncio.timeout(30):
            for call in calls:  # every upstream call the run opened
                await call.gone.wait()
