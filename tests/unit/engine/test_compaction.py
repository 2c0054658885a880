"""Context compaction (engine/compaction.py): summaries stored as events, the model's view
built from the latest summary, raw events kept, a failing summariser, reload from SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import ConfigError, ModelHTTPError
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, ToolCallPart, ToolResultPart
from agenthost.core.session import Session, SessionKey
from agenthost.engine.compaction import (
    Compaction,
    EstimateCounter,
    count_request,
    counter_for,
)
from agenthost.engine.history import SUMMARY_PREFIX, HistoryCache
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import FunctionModel, ScriptedModel

BUDGET = 400
WORDS = "lorem ipsum dolor sit amet " * 8  # about 60 tokens a message


class Recorder:
    """The agent's model: answers every turn, and records the requests it gets."""

    def __init__(self) -> None:
        self.requests: list[list[Message]] = []

    def __call__(self, messages: list[Message], tools: object) -> str:
        self.requests.append(messages)
        return f"answer {len(self.requests)}: {WORDS}"


def summariser(calls: list[list[Message]]) -> FunctionModel:
    def reply(messages: list[Message], tools: object) -> str:
        calls.append(messages)
        return f"summary #{len(calls)}"

    return FunctionModel(reply, name="test:summariser")


def tokens(messages: list[Message]) -> int:
    return count_request(counter_for("test:function"), messages)


async def test_budget_crossed_stores_a_summary_and_the_next_request_fits(tmp_path: Path) -> None:
    recorder = Recorder()
    calls: list[list[Message]] = []
    agent = LLMAgent(
        model=FunctionModel(recorder),
        instructions="be brief",
        compaction=Compaction(budget_tokens=BUDGET, keep_turns=2, model=summariser(calls)),
    )
    url = f"sqlite:///{tmp_path / 's.db'}"
    async with open_session_store(url) as store:
        runner = Runner(agent, store=store, app="app")
        for turn in range(12):
            await collect(runner.run("u", "s", f"question {turn}: {WORDS}"))
        session = await store.get(SessionKey(app="app", user_id="u", session_id="s"))
    assert session is not None
    summaries = [e for e in session.events if e.type == "compaction.summary"]
    assert len(summaries) >= 2 and len(calls) == len(summaries)
    # every request the agent's model got stayed under the budget
    assert max(tokens(r) for r in recorder.requests) <= BUDGET
    # the second summary folded in the first: its input starts with the earlier summary
    assert "Earlier summary:\nsummary #1" in calls[1][-1].text
    last = summaries[-1]
    assert last.data is not None and last.data["start_seq"] == 1
    assert last.data["tokens_after"] < last.data["tokens_before"]
    # the request after the last summary: system, the summary, then the kept turns verbatim
    after = [r for r in recorder.requests if SUMMARY_PREFIX + last.data["summary"] in r[1].text]
    assert after, "no request carried the latest summary"
    request = after[0]
    assert request[0].role == "system" and request[1].text.startswith(SUMMARY_PREFIX)
    users = [m.text for m in request[2:] if m.role == "user"]
    assert len(users) == 2 and users[-1].startswith("question ")
    # the raw events stay stored and readable: all 12 questions are still in the session
    received = [e for e in session.events if e.type == "message.received"]
    assert [e.text.split(":")[0] for e in received] == [f"question {i}" for i in range(12)]
    covered = [e for e in session.events if e.seq <= last.data["end_seq"]]
    assert covered[0].type == "message.received" and covered[0].seq == 1


async def test_reloaded_session_builds_the_same_view(tmp_path: Path) -> None:
    """A fresh process (new runner, new history cache) sees summary + events after it."""
    recorder = Recorder()
    calls: list[list[Message]] = []
    config = Compaction(budget_tokens=BUDGET, keep_turns=2, model=summariser(calls))
    url = f"sqlite:///{tmp_path / 's.db'}"
    async with open_session_store(url) as store:
        runner = Runner(LLMAgent(model=FunctionModel(recorder), compaction=config), store=store)
        for turn in range(8):
            await collect(runner.run("u", "s", f"question {turn}: {WORDS}"))
        key = SessionKey(app=runner.app, user_id="u", session_id="s")
        live = await store.get(key)
    assert live is not None
    async with open_session_store(url) as store:
        reloaded = await store.get(key)
    assert reloaded is not None
    fresh = HistoryCache().messages(reloaded)
    assert fresh[0].text.startswith(SUMMARY_PREFIX)
    assert fresh == HistoryCache().messages(live)
    # the next turn after the reload sends exactly that view plus the new question
    recorder2 = Recorder()
    async with open_session_store(url) as store:
        runner = Runner(LLMAgent(model=FunctionModel(recorder2), compaction=config), store=store)
        await collect(runner.run("u", "s", "one more"))
    assert recorder2.requests[0][: len(fresh)] == fresh or tokens(recorder2.requests[0]) <= BUDGET


async def test_failing_summariser_goes_on_uncompacted_and_says_so() -> None:
    recorder = Recorder()
    broken = ScriptedModel(
        [ModelHTTPError(model="test:broken", status_code=503, body="overloaded")] * 20,
        name="test:broken",
    )
    agent = LLMAgent(
        model=FunctionModel(recorder),
        compaction=Compaction(budget_tokens=BUDGET, keep_turns=2, model=broken),
    )
    async with open_session_store("memory://") as store:
        runner = Runner(agent, store=store)
        runs = [await collect(runner.run("u", "s", f"q{t}: {WORDS}")) for t in range(8)]
    failed = [e for events in runs for e in events if e.type == "compaction.failed"]
    assert failed, "the failure was not stored"
    assert failed[0].error is not None and "test:broken" in failed[0].error.message
    assert "uncompacted" in failed[0].error.message
    # every run still answered, and the requests were cut to the budget
    assert all(events[-1].type == "run.completed" for events in runs)
    assert len(recorder.requests) == 8
    assert max(tokens(r) for r in recorder.requests) <= BUDGET
    # no summary: the cut history starts at a user message, not with a summary
    assert not any(SUMMARY_PREFIX in m.text for r in recorder.requests for m in r)


async def test_under_budget_nothing_happens() -> None:
    model = ScriptedModel(["a", "b"])
    summary = ScriptedModel([], name="test:never")  # any call fails with UnexpectedModelCall
    agent = LLMAgent(model=model, compaction=Compaction(budget_tokens=10_000, model=summary))
    async with open_session_store("memory://") as store:
        runner = Runner(agent, store=store)
        first = await collect(runner.run("u", "s", "hi"))
        second = await collect(runner.run("u", "s", "again"))
    assert not [e for e in first + second if e.type.startswith("compaction.")]


def test_token_counters_exact_for_openai_estimate_otherwise() -> None:
    openai = counter_for("openai:gpt-4o-mini")
    assert openai.exact and openai.name == "o200k_base"
    assert openai.count("hello world, how are you?") == 7  # o200k_base: 7 tokens
    assert counter_for("openai:gpt-4").name == "cl100k_base"
    local = counter_for("local:smollm2")
    assert not local.exact and isinstance(local, EstimateCounter)
    text = "The quick brown fox jumps over the lazy dog. " * 20
    assert local.count(text) >= openai.count(text)  # the estimate over-counts English


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match="budget_tokens"):
        Compaction(budget_tokens=10)
    with pytest.raises(ConfigError, match="keep_turns"):
        Compaction(budget_tokens=1000, keep_turns=0)
    same_name = Compaction(budget_tokens=1000, model=ScriptedModel([], name="test:scripted"))
    with pytest.raises(ConfigError, match="its own name"):
        LLMAgent(model=ScriptedModel([]), compaction=same_name)


def _ev(kind: str, seq: int, message: Message | None = None, **data: object) -> Event:
    return Event(
        id=new_id(),
        run_id="r",
        author="a",
        type=kind,  # type: ignore[arg-type]
        message=message,
        data=dict(data) or None,
        seq=seq,
    )


def test_history_view_from_the_latest_summary_incremental_and_fresh() -> None:
    """The cache applies a summary to what it derived so far, and a fresh cache (a reload)
    starts at the summary's range: both give the same messages."""
    call = ToolCallPart(id="c1", name="t", arguments="{}")
    session = Session(app="a", user_id="u", id="s")
    session.events += [
        _ev("message.received", 1, Message.user("one")),
        _ev("message.completed", 2, Message.assistant("", (call,))),
        _ev(
            "tool.call.completed",
            3,
            Message.tool(ToolResultPart(tool_call_id="c1", name="t", content="r")),
        ),
        _ev("message.completed", 4, Message.assistant("done one")),
        _ev("run.completed", 5),
        _ev("message.received", 6, Message.user("two")),
        _ev("message.completed", 7, Message.assistant("done two")),
        _ev("message.received", 8, Message.user("three")),
    ]
    cache = HistoryCache()
    assert len(cache.messages(session)) == 7
    session.events.append(_ev("compaction.summary", 9, summary="S1", start_seq=1, end_seq=5))
    view = cache.view(session)
    expected = ["user", "user", "assistant", "user"]
    assert [m.role for m in view.messages] == expected
    assert view.messages[0].text == SUMMARY_PREFIX + "S1" and view.seqs == [5, 6, 7, 8]
    assert view.summary is not None and view.summary["end_seq"] == 5
    session.events.append(_ev("message.completed", 10, Message.assistant("done three")))
    incremental = cache.messages(session)
    assert [m.text for m in incremental][-1] == "done three"
    assert HistoryCache().messages(session) == incremental  # a reload sees the same
    # a later summary replaces the first one
    session.events.append(_ev("compaction.summary", 11, summary="S2", start_seq=1, end_seq=7))
    later = cache.messages(session)
    assert [m.text for m in later] == [SUMMARY_PREFIX + "S2", "three", "done three"]
    assert HistoryCache().messages(session) == later


async def test_a_summariser_that_raises_anything_does_not_fail_the_turn() -> None:
    def boom(messages: list[Message], tools: object) -> str:
        raise RuntimeError("summariser bug")

    recorder = Recorder()
    agent = LLMAgent(
        model=FunctionModel(recorder),
        compaction=Compaction(
            budget_tokens=BUDGET, keep_turns=1, model=FunctionModel(boom, name="test:boom")
        ),
    )
    async with open_session_store("memory://") as store:
        runner = Runner(agent, store=store)
        runs = [await collect(runner.run("u", "s", f"q{t}: {WORDS}")) for t in range(6)]
    assert all(events[-1].type == "run.completed" for events in runs)
    failed = [e for events in runs for e in events if e.type == "compaction.failed"]
    assert failed and failed[0].error is not None
    assert (
        failed[0].error.code == "compaction_failed" and "summariser bug" in failed[0].error.message
    )
