from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from agenthost.core.errors import InvalidArgument, ModelHTTPError, RunNotFound, SessionNotFound
from agenthost.core.events import Event, summarize_runs
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
from agenthost.core.usage import Usage
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import FunctionModel, ScriptedModel, tool_call

from .helpers import types


class HeldModel(FunctionModel):
    """Answers from `replies`, but its first call is held until `release` is set (or the
    call is cancelled); `called` is set when that first call has started."""

    def __init__(self, replies: list[str] | None = None) -> None:
        self.replies = list(replies or ["too late"])
        self.called = asyncio.Event()
        self.release = asyncio.Event()
        super().__init__(self._answer, name="test:scripted")

    async def _answer(self, messages: list[Message], tools: object) -> str:
        if not self.called.is_set():
            self.called.set()
            await self.release.wait()
        return self.replies.pop(0)


async def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city name
    """
    return f"sunny in {city}"


def make_runner(store: SessionStore, model: ScriptedModel, **kw: object) -> Runner:
    agent = LLMAgent(model=model, tools=[get_weather], instructions="be brief")
    return Runner(agent, store=store, app="t", **kw)  # type: ignore[arg-type]


async def test_one_turn_with_a_tool_round_trip(store: SessionStore) -> None:
    model = ScriptedModel(
        [tool_call("get_weather", '{"city": "Paris"}'), "It is sunny in Paris."],
        usage=Usage(input_tokens=10, output_tokens=5, requests=1, cost=0.001),
    )
    runner = make_runner(store, model)
    events = await collect(runner.run("u1", "s1", "weather in Paris?"))
    assert types(events) == [
        "message.received",
        "message.completed",
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    assert any(e.partial and e.type == "message.delta" for e in events)
    assert final_text(events) == "It is sunny in Paris."
    done = events[-1]
    assert done.usage == Usage(input_tokens=20, output_tokens=10, requests=2, cost=0.002)
    assert done.data is not None and done.data["status"] == "completed"
    assert done.data["duration_ms"] >= 0
    tool_done = next(e for e in events if e.type == "tool.call.completed")
    assert tool_done.message is not None and tool_done.message.parts[0].content == "sunny in Paris"  # type: ignore[union-attr]
    # the model saw the system prompt, the user message, then the tool result
    assert model.calls[0][0].text == "be brief"
    assert model.calls[1][-1].role == "tool"
    # the model got the very message object that was stored (the wire cache is by identity)
    assert model.calls[1][-1] is tool_done.message
    model.assert_consumed()
    # every non-partial event is stored, in order, with the session key on it
    session = await runner.get_session("u1", "s1")
    assert [e.id for e in session.events] == [e.id for e in events if not e.partial]
    assert [e.seq for e in session.events] == list(range(1, 7))
    assert all(e.session_id == "s1" and e.user_id == "u1" and e.app == "t" for e in events)


class RecordingStore:
    """Wraps a store; records which event ids were stored when."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.stored: set[str] = set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def append(self, session: object, events: list[Event]) -> None:
        await self.inner.append(session, events)  # type: ignore[arg-type]
        self.stored.update(e.id for e in events)


async def test_every_finished_event_is_stored_before_it_is_yielded(store: SessionStore) -> None:
    recording = RecordingStore(store)
    model = ScriptedModel([tool_call("get_weather", '{"city": "Oslo"}'), "cold"])
    runner = make_runner(recording, model)  # type: ignore[arg-type]
    async with aclosing(runner.run("u", "s", "hi")) as stream:
        async for event in stream:
            if not event.partial:
                assert event.id in recording.stored, event.type
            else:
                assert event.id not in recording.stored


async def test_history_carries_over_to_the_next_turn(store: SessionStore) -> None:
    model = ScriptedModel(["first answer", "second answer"])
    runner = make_runner(store, model)
    await collect(runner.run("u", "s", "one"))
    await collect(runner.run("u", "s", "two"))
    seen = [m.text for m in model.calls[1]]
    assert seen == ["be brief", "one", "first answer", "two"]


async def test_new_session_id_is_minted_and_reported(store: SessionStore) -> None:
    runner = make_runner(store, ScriptedModel(["ok"]))
    events = await collect(runner.run("u", None, "hello"))
    sid = events[0].session_id
    assert sid.startswith("s_")
    assert [s.id for s in await runner.list_sessions("u")] == [sid]


async def test_a_tool_that_raises_goes_back_to_the_model(store: SessionStore) -> None:
    def broken(x: int) -> str:
        raise RuntimeError("disk on fire")

    model = ScriptedModel([tool_call("broken", '{"x": 1}'), "sorry, the tool failed"])
    runner = Runner(LLMAgent(model=model, tools=[broken]), store=store)
    events = await collect(runner.run("u", "s", "go"))
    assert events[-1].type == "run.completed"
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.error is not None and "disk on fire" in result.error.message
    assert "disk on fire" in model.calls[1][-1].parts[0].content  # type: ignore[union-attr]


async def test_a_tool_that_hangs_times_out_and_the_run_goes_on(store: SessionStore) -> None:
    async def slow() -> str:
        await asyncio.sleep(30)
        return "never"

    model = ScriptedModel([tool_call("slow"), "gave up waiting"])
    runner = Runner(LLMAgent(model=model, tools=[slow], tool_timeout=0.1), store=store)
    events = await asyncio.wait_for(collect(runner.run("u", "s", "go")), 60)
    assert events[-1].type == "run.completed"
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.error is not None and "did not finish within 0.1s" in result.error.message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{not json", "not a JSON object"),
        ('{"town": "Paris"}', "unknown field `town`"),
        ('{"city": 5}', "Expected `str`"),
    ],
)
async def test_bad_arguments_from_the_model_go_back_as_a_tool_error(
    store: SessionStore, arguments: str, expected: str
) -> None:
    model = ScriptedModel([tool_call("get_weather", arguments), "fixed"])
    runner = make_runner(store, model)
    events = await collect(runner.run("u", "s", "go"))
    assert events[-1].type == "run.completed"
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.error is not None and expected in result.error.message


async def test_unknown_tool_name_is_reported_to_the_model(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("launch_rockets"), "ok"])
    events = await collect(make_runner(store, model).run("u", "s", "go"))
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.error is not None
    assert "no tool 'launch_rockets'" in result.error.message
    assert "get_weather" in result.error.message


async def test_parallel_tools_run_concurrently(store: SessionStore) -> None:
    all_started = asyncio.Barrier(3)  # passed only when all three calls are running at once

    async def nap(n: int) -> int:
        await asyncio.wait_for(all_started.wait(), 30)
        return n

    calls = [tool_call("nap", f'{{"n": {i}}}') for i in range(3)]
    model = ScriptedModel([calls, "done"])
    runner = Runner(LLMAgent(model=model, tools=[nap]), store=store)
    events = await collect(runner.run("u", "s", "go"))
    results = [e.message.parts[0].content for e in events if e.type == "tool.call.completed"]  # type: ignore[union-attr]
    assert results == ["0", "1", "2"]


async def test_model_error_ends_the_run_failed_and_keeps_the_session(store: SessionStore) -> None:
    model = ScriptedModel([ModelHTTPError(model="test:scripted", status_code=401, body="bad key")])
    runner = make_runner(store, model)
    events = await collect(runner.run("u", "s", "hi"))
    assert types(events) == ["message.received", "run.failed"]
    failed = events[-1]
    assert failed.error is not None
    assert failed.error.code == "model_http_error" and failed.error.retryable is False
    session = await runner.get_session("u", "s")
    assert [e.type for e in session.events] == ["message.received", "run.failed"]
    assert summarize_runs(session.events)[0].status == "failed"


async def test_fallback_model_takes_over_on_429(store: SessionStore) -> None:
    primary = ScriptedModel(
        [ModelHTTPError(model="p", status_code=429, body="slow down", retry_after=60)],
        name="test:primary",
    )
    backup = ScriptedModel(["from backup"], name="test:backup")
    runner = Runner(LLMAgent(model=primary, fallbacks=[backup]), store=store)
    events = await collect(runner.run("u", "s", "hi"))
    assert final_text(events) == "from backup"
    completed = next(e for e in events if e.type == "message.completed")
    assert completed.data == {"model": "test:backup"}


async def test_retry_honours_short_retry_after(store: SessionStore) -> None:
    model = ScriptedModel(
        [ModelHTTPError(model="p", status_code=503, body="busy", retry_after=0.05), "second try"]
    )
    events = await collect(make_runner(store, model).run("u", "s", "hi"))
    assert final_text(events) == "second try"


async def test_max_tool_rounds(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("get_weather", '{"city": "a"}')] * 3)
    agent = LLMAgent(model=model, tools=[get_weather], max_tool_rounds=2)
    events = await collect(Runner(agent, store=store).run("u", "s", "loop"))
    assert events[-1].type == "run.failed"
    assert events[-1].error is not None and events[-1].error.code == "max_tool_rounds_exceeded"


async def test_cancel_stops_a_slow_model_call_promptly(store: SessionStore) -> None:
    model = HeldModel()
    runner = make_runner(store, model)
    events: list[Event] = []

    async def consume() -> None:
        async for event in runner.run("u", "s", "hi", run_id="run_x"):
            events.append(event)

    task = asyncio.create_task(consume())
    await model.called.wait()
    assert [r.run_id for r in runner.active_runs()] == ["run_x"]
    runner.cancel("run_x")
    await asyncio.wait_for(task, 60)
    assert events[-1].type == "run.failed"
    assert events[-1].error is not None and events[-1].error.code == "cancelled"
    assert runner.active_runs() == []
    with pytest.raises(RunNotFound):
        runner.cancel("run_x")
    runs = summarize_runs((await runner.get_session("u", "s")).events)
    assert runs[0].status == "cancelled"


async def test_deadline(store: SessionStore) -> None:
    model = ScriptedModel(["too late"], delay=30)
    events = await asyncio.wait_for(
        collect(make_runner(store, model).run("u", "s", "hi", timeout=0.1)), 60
    )
    assert events[-1].error is not None
    assert events[-1].error.code == "deadline_exceeded" and events[-1].error.retryable


async def test_queue_policy_serializes_runs_without_interleaving(store: SessionStore) -> None:
    model = ScriptedModel(["first", "second"], delay=0.05)
    runner = make_runner(store, model)
    a, b = await asyncio.gather(
        collect(runner.run("u", "s", "one")), collect(runner.run("u", "s", "two"))
    )
    session = await runner.get_session("u", "s")
    runs = [e.run_id for e in session.events]
    first_run = runs[0]
    n = runs.count(first_run)
    assert runs[:n] == [first_run] * n and len(set(runs[n:])) == 1
    assert {final_text(a), final_text(b)} == {"first", "second"}
    assert len(session.events) == 6


async def test_reject_policy(store: SessionStore) -> None:
    from agenthost.core.errors import SessionBusy

    model = HeldModel(["slow answer"])
    runner = make_runner(store, model)
    first = asyncio.create_task(collect(runner.run("u", "s", "one")))
    await model.called.wait()
    with pytest.raises(SessionBusy, match="busy policy"):
        await collect(runner.run("u", "s", "two", busy_policy="reject"))
    model.release.set()
    await first
    session = await runner.get_session("u", "s")
    assert [e.message.text for e in session.events if e.type == "message.received"] == ["one"]  # type: ignore[union-attr]


async def test_interrupt_policy_cancels_the_active_run(store: SessionStore) -> None:
    model = HeldModel(["fresh answer"])  # the first call is held until it is interrupted
    runner = make_runner(store, model)
    first = asyncio.create_task(collect(runner.run("u", "s", "one")))
    await model.called.wait()
    second = await collect(runner.run("u", "s", "two", busy_policy="interrupt"))
    first_events = await first
    assert first_events[-1].error is not None and first_events[-1].error.code == "interrupted"
    assert final_text(second) == "fresh answer"


async def test_caller_that_stops_reading_leaves_the_run_marked(store: SessionStore) -> None:
    model = ScriptedModel(["a long answer"], delay=0.2)
    runner = make_runner(store, model)
    async with aclosing(runner.run("u", "s", "hi")) as stream:
        async for _ in stream:
            break
    session = await runner.get_session("u", "s")
    assert session.events[-1].type == "run.failed"
    assert session.events[-1].error is not None
    assert session.events[-1].error.code == "cancelled"
    assert runner.active_runs() == []


async def test_a_run_left_open_is_marked_interrupted(store: SessionStore) -> None:
    key = SessionKey("t", "u", "s")
    session = await store.create(key)
    await store.append(
        session,
        [
            Event(
                id=new_id(),
                run_id="run_dead",
                author="user",
                type="message.received",
                message=Message.user("hi"),
            ),
        ],
    )
    runner = make_runner(store, ScriptedModel(["hello again"]))
    loaded = await runner.get_session("u", "s")
    assert loaded.events[-1].type == "run.interrupted"
    assert summarize_runs(loaded.events)[0].status == "interrupted"
    events = await collect(runner.run("u", "s", "still there?"))
    assert final_text(events) == "hello again"


async def test_bad_input_is_refused_before_anything_is_stored(store: SessionStore) -> None:
    runner = make_runner(store, ScriptedModel([]))
    with pytest.raises(InvalidArgument, match="user_id"):
        await collect(runner.run("", "s", "hi"))
    with pytest.raises(InvalidArgument, match="busy_policy"):
        await collect(runner.run("u", "s", "hi", busy_policy="yolo"))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="message"):
        await collect(runner.run("u", "s", Message(role="user")))
    assert await runner.list_sessions("u") == []
    with pytest.raises(SessionNotFound):
        await runner.get_session("u", "s")


async def test_delete_session(store: SessionStore) -> None:
    runner = make_runner(store, ScriptedModel(["x"]))
    await collect(runner.run("u", "s", "hi"))
    await runner.delete_session("u", "s")
    with pytest.raises(SessionNotFound):
        await runner.delete_session("u", "s")


async def test_a_live_run_of_another_process_is_not_marked(store: SessionStore) -> None:
    import socket
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # noqa: ASYNC220
    try:
        key = SessionKey("t", "u", "s")
        session = await store.create(key)
        owner = f"{socket.gethostname()}:{other.pid}"
        await store.append(
            session,
            [
                Event(
                    id=new_id(),
                    run_id="run_live",
                    author="user",
                    type="message.received",
                    message=Message.user("hi"),
                    data={"runner": owner},
                ),
            ],
        )
        runner = make_runner(store, ScriptedModel([]))
        loaded = await runner.get_session("u", "s")
        assert loaded.events[-1].type == "message.received"
    finally:
        other.kill()
        other.wait()
    loaded = await runner.get_session("u", "s")
    assert loaded.events[-1].type == "run.interrupted"


async def test_wait_returns_when_the_run_has_ended(store: SessionStore) -> None:
    """`Runner.wait`: at once for a run that is not active; else once the run has ended
    (its event is made by the first waiter, so a run nobody waits for makes none)."""
    model = HeldModel(["done"])
    runner = make_runner(store, model)
    await runner.wait("run_unknown")  # not active: returns at once
    run = asyncio.create_task(collect(runner.run("u1", "s1", "hi", run_id="run_w")))
    await model.called.wait()
    waiters = [asyncio.create_task(runner.wait("run_w")) for _ in range(2)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)  # the run is held in its model call
    model.release.set()
    await asyncio.gather(*waiters)
    assert runner.run_status("run_w") is None  # wait returned after the run's end
    assert types(await run)[-1] == "run.completed"
