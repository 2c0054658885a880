"""Composition: chain, parallel, loop, transfer and agent-as-tool, through the real Runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.core.errors import ConfigError, ModelHTTPError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.engine.composition import (
    ChainAgent,
    LoopAgent,
    ParallelAgent,
    TransferAgent,
    agent_tool,
)
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.models import ToolSpec
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    MessageDelta,
    ModelResource,
    Permissions,
    Resources,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunFailed,
    StateUpdated,
)
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import FunctionModel, ScriptedModel, tool_call

from .helpers import types


async def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city name
    """
    return f"sunny in {city}"


def llm(name: str, model: Any, **kw: Any) -> LLMAgent:
    return LLMAgent(model=model, name=name, **kw)


def stored(events: list[Event]) -> list[Event]:
    return [e for e in events if not e.partial]


class Sleeper:
    """Says it is working, then sleeps; records whether it was cancelled."""

    def __init__(self, name: str, seconds: float = 30, reply: str = "woke up") -> None:
        self.name = name
        self.seconds = seconds
        self.reply = reply
        self.cancelled = False
        self.started = asyncio.Event()

    @property
    def manifest(self) -> Manifest:
        return Manifest(id=f"test/{self.name}", name=self.name)

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        yield MessageDelta(text="working")
        self.started.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        yield MessageCompleted(message=Message.assistant(self.reply))
        yield RunCompleted()


class Scripted:
    """An agent that runs a probe against its context and host (for precise checks)."""

    def __init__(self, name: str, probe: Any, permissions: Permissions | None = None) -> None:
        self.name = name
        self.probe = probe
        self.permissions = permissions or Permissions()
        self.inputs: list[str] = []

    @property
    def manifest(self) -> Manifest:
        return Manifest(id=f"test/{self.name}", name=self.name, permissions=self.permissions)

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        self.inputs.append(ctx.input.text)
        async for item in self.probe(ctx, host):
            yield item


# ---- chain ---------------------------------------------------------------------------------


async def test_chain_feeds_each_answer_to_the_next_and_tags_events(store: SessionStore) -> None:
    researcher_model = ScriptedModel(
        [tool_call("get_weather", '{"city": "Oslo"}'), "Oslo: sunny, 21C"], name="test:r"
    )
    writer_model = ScriptedModel(["A sunny day in Oslo."], name="test:w")
    chain = ChainAgent(
        [
            llm("researcher", researcher_model, tools=[get_weather]),
            llm("writer", writer_model, instructions="write"),
        ],
        name="pipeline",
    )
    runner = Runner(chain, store=store, app="t")
    events = await collect(runner.run("u", "s", "weather in Oslo?"))
    assert types(events) == [
        "message.received",
        "message.completed",
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "message.completed",
        "run.completed",
    ]
    assert final_text(events) == "A sunny day in Oslo."
    middle = stored(events)[1:-1]
    assert [e.author for e in middle] == ["researcher"] * 4 + ["writer"]
    assert [e.branch for e in middle] == ["pipeline.researcher"] * 4 + ["pipeline.writer"]
    assert all(e.branch for e in events if e.partial)
    assert events[0].author == "user" and events[-1].author == "runner"
    # the writer's input is the researcher's answer, not the user's question
    assert [m.text for m in writer_model.calls[0]] == ["write", "Oslo: sunny, 21C"]
    assert [m.text for m in researcher_model.calls[0]] == ["weather in Oslo?"]
    # usage adds up over both agents; branches are stored
    assert events[-1].usage is not None and events[-1].usage.requests == 3
    session = await runner.get_session("u", "s")
    assert [e.branch for e in session.events] == [e.branch for e in stored(events)]


async def test_chain_sees_the_conversation_before_the_run(store: SessionStore) -> None:
    first = ScriptedModel(["one-a", "two-a"], name="test:a")
    second = ScriptedModel(["one-b", "two-b"], name="test:b")
    runner = Runner(ChainAgent([llm("a", first), llm("b", second)]), store=store)
    await collect(runner.run("u", "s", "one"))
    await collect(runner.run("u", "s", "two"))
    assert [m.text for m in first.calls[1]] == ["one", "one-a", "one-b", "two"]
    assert [m.text for m in second.calls[1]] == ["one", "one-a", "one-b", "two-a"]


async def test_chain_stops_at_the_first_failure(store: SessionStore) -> None:
    broken = ScriptedModel([ModelHTTPError(model="test:x", status_code=400, body="bad")])
    after = ScriptedModel([], name="test:after")
    runner = Runner(ChainAgent([llm("a", broken), llm("b", after)]), store=store)
    events = await collect(runner.run("u", "s", "go"))
    assert events[-1].type == "run.failed"
    assert events[-1].error is not None and events[-1].error.code == "model_http_error"
    assert "agent 'a' failed" in events[-1].error.message
    assert after.calls == []


async def test_a_sub_agent_that_raises_fails_the_chain_with_its_name(store: SessionStore) -> None:
    async def boom(ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        raise RuntimeError("kaput")
        yield  # pragma: no cover

    runner = Runner(ChainAgent([Scripted("x", boom)]), store=store)
    events = await collect(runner.run("u", "s", "go"))
    assert events[-1].error is not None and events[-1].error.code == "runner.error"
    assert "agent 'x' failed: RuntimeError: kaput" in events[-1].error.message


# ---- parallel ------------------------------------------------------------------------------


async def test_parallel_fans_out_concurrently_and_combines(store: SessionStore) -> None:
    both_called = asyncio.Barrier(2)  # passed only when both model calls are in flight

    def answer(text: str) -> Any:
        async def reply(messages: list[Message], tools: Any) -> str:
            await asyncio.wait_for(both_called.wait(), 30)
            return text

        return reply

    a = llm("a", FunctionModel(answer("answer a"), name="test:a"))
    b = llm("b", FunctionModel(answer("answer b"), name="test:b"))
    runner = Runner(ParallelAgent([a, b], name="fan"), store=store)
    events = await collect(runner.run("u", "s", "q"))
    assert events[-1].type == "run.completed"
    assert final_text(events) == "## a\nanswer a\n\n## b\nanswer b"
    combined = stored(events)[-2]
    assert combined.author == "fan" and combined.branch is None
    assert {e.branch for e in stored(events)[1:-2]} == {"fan.a", "fan.b"}


async def test_parallel_keeps_each_branch_stored_events_together(store: SessionStore) -> None:
    a_calling = asyncio.Event()  # a has the floor: its tool is running
    b_answered = asyncio.Event()  # the caller has seen b's answer streaming

    async def slow_lookup(city: str) -> str:
        a_calling.set()
        await asyncio.wait_for(b_answered.wait(), 30)  # a's tool ends only after that
        return f"rain in {city}"

    async def quick(messages: list[Message], tools: Any) -> str:
        await asyncio.wait_for(a_calling.wait(), 30)
        return "quick answer"

    a = llm(
        "a",
        ScriptedModel([tool_call("slow_lookup", '{"city": "Rome"}'), "rainy"], name="test:a"),
        tools=[slow_lookup],
    )
    b = llm("b", FunctionModel(quick, name="test:b"))
    runner = Runner(ParallelAgent([a, b]), store=store)
    events: list[Event] = []
    async for event in runner.run("u", "s", "q"):
        events.append(event)
        if event.partial and event.author == "b":
            b_answered.set()
    branches = [e.branch for e in stored(events)[1:-2]]
    # a took the floor first (its tool call), b's answer waited until a finished
    assert branches == ["parallel.a"] * 4 + ["parallel.b"]
    # b's deltas were not held back
    first_b_delta = next(i for i, e in enumerate(events) if e.partial and e.author == "b")
    a_done = next(
        i for i, e in enumerate(events) if e.type == "tool.call.completed" and e.author == "a"
    )
    assert first_b_delta < a_done
    # the next turn's history is valid: every tool call is followed by its result
    follow = ScriptedModel(["ok"], name="test:next")
    await collect(Runner(llm("next", follow), store=store).run("u", "s", "again"))
    roles = [m.role for m in follow.calls[0]]
    assert roles == ["user", "assistant", "tool", "assistant", "assistant", "assistant", "user"]


async def test_parallel_with_a_failing_branch_completes_partially(store: SessionStore) -> None:
    good = llm("good", ScriptedModel(["fine"], name="test:g"))
    bad = llm("bad", ScriptedModel([ModelHTTPError(model="m", status_code=401, body="no")]))
    events = await collect(Runner(ParallelAgent([good, bad]), store=store).run("u", "s", "q"))
    assert events[-1].type == "run.completed"
    assert events[-1].data is not None and events[-1].data["finish_reason"] == "partial"
    text = final_text(events)
    assert text.startswith("## good\nfine\n\n## bad\n[failed: model_http_error:")


async def test_parallel_require_all_fails_after_every_branch_ran(store: SessionStore) -> None:
    slow_good = llm("good", ScriptedModel(["fine"], name="test:g", delay=0.1))
    bad = llm("bad", ScriptedModel([ModelHTTPError(model="m", status_code=401, body="no")]))
    agent = ParallelAgent([slow_good, bad], require_all=True)
    events = await collect(Runner(agent, store=store).run("u", "s", "q"))
    assert events[-1].error is not None and events[-1].error.code == "parallel.branch_failed"
    assert any(e.type == "message.completed" and e.author == "good" for e in events)


async def test_parallel_fails_when_every_branch_fails(store: SessionStore) -> None:
    one = llm("one", ScriptedModel([ModelHTTPError(model="m", status_code=401, body="no")]))
    two = llm("two", ScriptedModel([ModelHTTPError(model="m", status_code=401, body="no")]))
    events = await collect(Runner(ParallelAgent([one, two]), store=store).run("u", "s", "q"))
    assert events[-1].error is not None and events[-1].error.code == "model_http_error"
    assert "every branch failed" in events[-1].error.message


def test_parallel_needs_distinct_names() -> None:
    model = ScriptedModel([])
    with pytest.raises(ConfigError, match="several agents named"):
        ParallelAgent([llm("x", model), llm("x", model)])
    with pytest.raises(ConfigError, match="at least one agent"):
        ChainAgent([])
    with pytest.raises(ConfigError, match="not an agent"):
        ChainAgent(["nope"])
    with pytest.raises(ConfigError, match=r"no '\.'"):
        ChainAgent([llm("x", model)], name="a.b")


async def test_nested_composition_builds_branch_paths(store: SessionStore) -> None:
    fan = ParallelAgent(
        [llm("a", ScriptedModel(["A"], name="test:a")), llm("b", ScriptedModel(["B"]))],
        name="fan",
    )
    summary = ScriptedModel(["summary"], name="test:c")
    chain = ChainAgent([fan, llm("c", summary)], name="outer")
    events = await collect(Runner(chain, store=store).run("u", "s", "q"))
    authored = [(e.author, e.branch) for e in stored(events)[1:-1]]
    assert authored == [
        ("a", "outer.fan.a"),
        ("b", "outer.fan.b"),
        ("fan", "outer.fan"),
        ("c", "outer.c"),
    ]
    assert summary.calls[0][-1].text == "## a\nA\n\n## b\nB"
    assert final_text(events) == "summary"


# ---- loop ----------------------------------------------------------------------------------


async def test_loop_until_a_condition_on_the_answer(store: SessionStore) -> None:
    def refine(messages: list[Message], tools: list[ToolSpec]) -> str:
        return messages[-1].text + "!"

    model = FunctionModel(refine)
    loop = LoopAgent(llm("shout", model), max_iterations=5, until=lambda t: t.count("!") >= 3)
    events = await collect(Runner(loop, store=store).run("u", "s", "hi"))
    assert final_text(events) == "hi!!!"
    assert len(model.calls) == 3
    assert events[-1].data is not None and events[-1].data["finish_reason"] == "stop"


async def test_loop_stops_at_max_iterations(store: SessionStore) -> None:
    model = FunctionModel(lambda messages, tools: messages[-1].text + ".")
    loop = LoopAgent(llm("dot", model), max_iterations=2, until=lambda t: False)
    events = await collect(Runner(loop, store=store).run("u", "s", "x"))
    assert final_text(events) == "x.."
    assert events[-1].data is not None and events[-1].data["finish_reason"] == "max_iterations"


@pytest.mark.parametrize("how", ["host", "result"])
async def test_loop_until_a_state_flag(store: SessionStore, how: str) -> None:
    async def count(ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        n = int(ctx.input.text) + 1
        if n == 3:
            if how == "host":
                await host.state.set("temp", "done", True)
            else:
                yield StateUpdated(scope="temp", key="done", value=True)
        yield MessageCompleted(message=Message.assistant(str(n)))

    counter = Scripted("counter", count)
    loop = LoopAgent(counter, max_iterations=10, until="temp:done")
    events = await collect(Runner(loop, store=store).run("u", "s", "0"))
    assert counter.inputs == ["0", "1", "2"]
    assert final_text(events) == "3"


def test_loop_checks_its_arguments() -> None:
    agent = llm("x", ScriptedModel([]))
    with pytest.raises(ConfigError, match="max_iterations"):
        LoopAgent(agent, max_iterations=0)
    with pytest.raises(ConfigError, match="until"):
        LoopAgent(agent, max_iterations=1, until=3)  # type: ignore[arg-type]


# ---- agent as tool -------------------------------------------------------------------------


async def test_agent_tool_runs_a_sub_agent_under_the_same_run(store: SessionStore) -> None:
    helper_model = ScriptedModel(["Paris is the capital."], name="test:helper")
    helper = llm("helper", helper_model, instructions="be a helper")
    main_model = ScriptedModel(
        [tool_call("ask_helper", '{"input": "capital of France?"}'), "It is Paris."],
        name="test:main",
    )
    tool = agent_tool(helper, "ask_helper", "Asks the helper")
    runner = Runner(llm("main", main_model, tools=[tool]), store=store)
    # the helper's model is granted too, through the tool
    assert {m.model_id for m in runner.resources.models} == {"test:main", "test:helper"}
    async with runner:
        events = await collect(runner.run("u", "s", "question"))
    assert final_text(events) == "It is Paris."
    assert [m.text for m in helper_model.calls[0]] == ["be a helper", "capital of France?"]
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.text == "Paris is the capital." and result.error is None
    # the sub-run's own events are summarized by the tool result, not added to the run
    assert {e.author for e in stored(events)[1:-1]} == {"main"}


async def test_agent_tool_failure_is_a_tool_error(store: SessionStore) -> None:
    helper = llm("helper", ScriptedModel([ModelHTTPError(model="m", status_code=400, body="x")]))
    main_model = ScriptedModel([tool_call("helper", '{"input": "hm"}'), "sorry"], name="test:m")
    tool = agent_tool(helper)
    runner = Runner(llm("main", main_model, tools=[tool]), store=store)
    events = await collect(runner.run("u", "s", "q"))
    result = next(e for e in events if e.type == "tool.call.completed")
    assert result.error is not None and "agent 'helper' failed (model_http_error)" in result.text
    assert events[-1].type == "run.completed"


async def test_agent_tool_keeps_the_state_its_agent_sets(store: SessionStore) -> None:
    async def remember(ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        await host.state.set("session", "via_host", ctx.input.text)
        yield StateUpdated(scope="session", key="via_result", value=1)
        yield MessageCompleted(message=Message.assistant("noted"))

    tool = agent_tool(Scripted("memo", remember), "memo", "Remembers")
    main_model = ScriptedModel([tool_call("memo", '{"input": "blue"}'), "done"], name="test:m")
    runner = Runner(llm("main", main_model, tools=[tool]), store=store)
    await collect(runner.run("u", "s", "q"))
    session = await runner.get_session("u", "s")
    assert session.state == {"via_host": "blue", "via_result": 1}


async def test_agent_tool_outside_a_run_is_a_tool_error() -> None:
    from agenthost.core.errors import ToolError

    tool = agent_tool(llm("x", ScriptedModel([])), "x", "d")
    with pytest.raises(ToolError, match="during a run"):
        await tool.call({"input": "hi"})


# ---- transfer ------------------------------------------------------------------------------


async def test_transfer_hands_the_rest_of_the_run_to_the_target(store: SessionStore) -> None:
    router_model = ScriptedModel([tool_call("transfer_to_billing")], name="test:router")
    billing_model = ScriptedModel(["Your invoice is attached."], name="test:billing")
    support_model = ScriptedModel([], name="test:support")
    agent = TransferAgent(
        llm("triage", router_model),
        [
            llm("billing", billing_model, description="Invoices and payments."),
            llm("support", support_model),
        ],
        name="desk",
    )
    events = await collect(Runner(agent, store=store).run("u", "s", "where is my invoice?"))
    assert final_text(events) == "Your invoice is attached."
    offered = [t.name for t in router_model.tools_seen[0]]
    assert offered == ["transfer_to_billing", "transfer_to_support"]
    assert "Invoices and payments." in router_model.tools_seen[0][0].description
    router_model.assert_consumed()  # the router was stopped after the transfer
    assert [m.text for m in billing_model.calls[0]] == ["where is my invoice?"]
    authored = [(e.type, e.author) for e in stored(events)[1:-1]]
    assert authored == [
        ("message.completed", "triage"),
        ("tool.call.started", "triage"),
        ("tool.call.completed", "triage"),
        ("message.completed", "billing"),
    ]
    assert support_model.calls == []


async def test_transfer_router_may_answer_itself(store: SessionStore) -> None:
    router = llm("triage", ScriptedModel(["Hello! How can I help?"], name="test:r"))
    agent = TransferAgent(router, [llm("billing", ScriptedModel([], name="test:b"))])
    events = await collect(Runner(agent, store=store).run("u", "s", "hi"))
    assert final_text(events) == "Hello! How can I help?"
    assert events[-1].type == "run.completed"


# ---- resources and authorization -----------------------------------------------------------


async def test_composed_resources_are_the_union_of_the_sub_agents(store: SessionStore) -> None:
    async def uses_runner_models(ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        response = await host.models.invoke("test:extra", [Message.user("x")])
        yield MessageCompleted(message=response.message)

    custom = Scripted("custom", uses_runner_models, Permissions(models=True))
    first = llm("first", ScriptedModel(["1"], name="test:one"), tools=[get_weather])
    second = llm("second", ScriptedModel(["2"], name="test:two"), tools=[get_weather])
    chain = ChainAgent([first, second, custom])
    runner = Runner(chain, store=store, models=[ScriptedModel(["extra"], name="test:extra")])
    assert {m.model_id for m in runner.resources.models} == {"test:one", "test:two", "test:extra"}
    assert [t.tool_name for t in runner.resources.tools] == ["get_weather"]
    assert chain.manifest.permissions.models and chain.manifest.permissions.tools
    events = await collect(runner.run("u", "s", "go"))
    assert final_text(events) == "extra"


async def test_sub_agents_reach_only_what_the_run_was_granted(store: SessionStore) -> None:
    allowed = llm("allowed", ScriptedModel(["fine"], name="test:allowed"))
    denied = llm("denied", ScriptedModel(["never"], name="test:denied"))
    runner = Runner(
        ChainAgent([allowed, denied]),
        store=store,
        resources=Resources(models=[ModelResource(model_id="test:allowed")]),
    )
    events = await collect(runner.run("u", "s", "go"))
    assert events[-1].error is not None and events[-1].error.code == "unauthorized"
    assert "agent 'denied' failed" in events[-1].error.message


# ---- cancellation and deadline reach every sub-agent ---------------------------------------


def _composed(kind: str, sleepers: list[Sleeper]) -> Any:
    if kind == "chain":
        fast = llm("fast", ScriptedModel(["fast"], name="test:fast"))
        return ChainAgent([fast, sleepers[0]])
    if kind == "parallel":
        return ParallelAgent(sleepers)
    if kind == "loop":
        return LoopAgent(sleepers[0], max_iterations=2)
    if kind == "transfer":
        return TransferAgent(llm("r", ScriptedModel([tool_call("transfer_to_s0")])), sleepers[:1])
    assert kind == "tool"
    model = ScriptedModel([tool_call("s0", '{"input": "x"}')], name="test:m")
    return llm("main", model, tools=[agent_tool(sleepers[0])])


KINDS = ["chain", "parallel", "loop", "transfer", "tool"]


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_reaches_every_sub_agent(store: SessionStore, kind: str) -> None:
    sleepers = [Sleeper("s0"), Sleeper("s1")]
    runner = Runner(_composed(kind, sleepers), store=store)
    task = asyncio.create_task(collect(runner.run("u", "s", "go", run_id="run_c")))
    used = sleepers if kind == "parallel" else sleepers[:1]
    for sleeper in used:  # each is in its sleep once started is set (no await in between)
        await asyncio.wait_for(sleeper.started.wait(), 30)
    runner.cancel("run_c")
    events = await asyncio.wait_for(task, 30)
    assert events[-1].error is not None and events[-1].error.code == "cancelled"
    assert all(s.cancelled for s in used)


@pytest.mark.parametrize("kind", KINDS)
async def test_deadline_reaches_every_sub_agent(store: SessionStore, kind: str) -> None:
    sleepers = [Sleeper("s0"), Sleeper("s1")]
    runner = Runner(_composed(kind, sleepers), store=store)
    events = await asyncio.wait_for(collect(runner.run("u", "s", "go", timeout=0.3)), 60)
    assert events[-1].error is not None and events[-1].error.code == "deadline_exceeded"
    used = sleepers if kind == "parallel" else sleepers[:1]
    assert all(s.cancelled for s in used)


async def test_cancel_between_events_closes_parallel_branches(store: SessionStore) -> None:
    sleepers = [Sleeper("s0"), Sleeper("s1")]
    runner = Runner(ParallelAgent(sleepers), store=store)
    events: list[Event] = []
    async for event in runner.run("u", "s", "go", run_id="run_g"):
        events.append(event)
        if event.partial:  # the agent is suspended at its yield: no scope to fire
            await asyncio.wait_for(sleepers[1].started.wait(), 60)
            runner.cancel("run_g")
    assert events[-1].error is not None and events[-1].error.code == "cancelled"
    assert all(s.cancelled for s in sleepers)


async def test_a_failing_parallel_branch_does_not_cancel_the_caller(store: SessionStore) -> None:
    async def fail_late(ctx: RunContext, host: HostAPI) -> AsyncIterator[Any]:
        yield MessageDelta(text="soon")
        await asyncio.sleep(0.05)
        yield RunFailed(error="nope", code="custom")

    slow = Sleeper("slow", seconds=0.2, reply="slept")
    runner = Runner(ParallelAgent([Scripted("failing", fail_late), slow]), store=store)
    events: list[Event] = []
    async for event in runner.run("u", "s", "go"):
        events.append(event)
        await asyncio.sleep(0.03)  # a slow reader: the generator is suspended meanwhile
    assert events[-1].type == "run.completed"
    assert "[failed: custom: nope]" in final_text(events) and "slept" in final_text(events)
