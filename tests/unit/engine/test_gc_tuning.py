"""The GC settings a Runner applies once per process (engine/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agenthost.engine import gc_tuning
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel


@pytest.fixture
def fresh_gc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process whose GC no Runner has tuned yet; the settings restored afterwards."""
    threshold = gc.get_threshold()
    enabled = gc.isenabled()
    monkeypatch.setattr(gc_tuning, "_tuned", False)
    monkeypatch.delenv(gc_tuning.ENV, raising=False)
    gc.set_threshold(700, threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if enabled:
            gc.enable()


async def test_the_first_runner_raises_the_young_threshold_once(
    fresh_gc: None, store: SessionStore
) -> None:
    async with Runner(LLMAgent(model=ScriptedModel(["hi"])), store=store) as runner:
        assert gc.get_threshold()[0] == gc_tuning.YOUNG_THRESHOLD
        events = await collect(runner.run("u", None, "hello"))
        assert events[-1].type == "run.completed"
    gc.set_threshold(700, 10, 10)  # the application sets its own afterwards: kept
    async with Runner(LLMAgent(model=ScriptedModel(["hi"])), store=store):
        assert gc.get_threshold() == (700, 10, 10)  # once per process, not per runner


async def test_a_higher_threshold_is_kept_and_a_lower_one_never_set(fresh_gc: None) -> None:
    gc.set_threshold(50_000, 10, 10)
    assert gc_tuning.tune() is True
    assert gc.get_threshold() == (50_000, 10, 10)


async def test_agenthost_gc_default_leaves_the_collector_alone(
    fresh_gc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(gc_tuning.ENV, "default")
    assert gc_tuning.tune() is False
    assert gc.get_threshold()[0] == 700


async def test_a_disabled_collector_is_left_alone_until_it_is_enabled(fresh_gc: None) -> None:
    gc.disable()
    assert gc_tuning.tune() is False
    assert gc.get_threshold()[0] == 700
    gc.enable()
    assert gc_tuning.tune() is True
    assert gc.get_threshold()[0] == gc_tuning.YOUNG_THRESHOLD


def test_events_and_messages_are_not_tracked_by_the_cyclic_gc() -> None:
    """Stores and caches hold many of them: a full collection must not walk them all."""
    from agenthost.core.events import Event
    from agenthost.core.messages import Message

    event = Event(
        id="e",
        run_id="r",
        author="a",
        type="tool.call.started",
        message=Message.user("hi"),
        data={"parameters": {"query": ["x"]}},
    )
    assert not gc.is_tracked(event) and not gc.is_tracked(event.message)


async def test_a_process_that_sets_its_own_thresholds_keeps_them_for_its_runners(
    fresh_gc: None, store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gc_tuning.tune((100_000, 20, 10)) is True  # what `agenthost serve` does at start
    assert gc.get_threshold() == (100_000, 20, 10)
    async with Runner(LLMAgent(model=ScriptedModel(["hi"])), store=store):
        assert gc.get_threshold() == (100_000, 20, 10)
    monkeypatch.setattr(gc_tuning, "_tuned", False)
    monkeypatch.setenv(gc_tuning.ENV, "default")
    gc.set_threshold(700, 10, 10)
    assert gc_tuning.tune((100_000, 20, 10)) is False  # the opt-out covers the server too
    assert gc.get_threshold() == (700, 10, 10)
