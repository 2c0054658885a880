"""Human approval of tool calls: pause, answer (approve, edit, reject), refusals, expiry."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agenthost.core.approvals import ApprovalAnswer
from agenthost.core.errors import (
    ApprovalAnswered,
    ApprovalForbidden,
    ApprovalNotFound,
    ApprovalRunFinished,
    ConfigError,
    InvalidArgument,
)
from agenthost.core.events import Event, summarize_runs
from agenthost.core.messages import ImagePart, Message, TextPart, ToolResultPart
from agenthost.engine.approval import INDEX, requires_approval
from agenthost.engine.function_tool import function_tool
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.sessions import KeyValueStore, SessionStore
from agenthost.ports.tools import ToolOutput
from agenthost.testing.scripted import FunctionModel, ScriptedModel, tool_call

from .helpers import types

CALLS: list[tuple[str, dict[str, Any]]] = []


@function_tool(requires_approval=True)
def send_money(to: str, amount: int) -> str:
    """Send money to someone."""
    CALLS.append(("send_money", {"to": to, "amount": amount}))
    return f"sent {amount} to {to}"


def get_time() -> str:
    """The time."""
    CALLS.append(("get_time", {}))
    return "noon"


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def seen_by_model(model: ScriptedModel) -> list[list[Message]]:
    """The messages of each model call (ScriptedModel keeps none: wrap its _next)."""
    calls: list[list[Message]] = []
    original = model._next

    async def spy(messages: Any, tools: Any) -> Any:
        calls.append(list(messages))
        return await original(messages, tools)

    model._next = spy  # type: ignore[method-assign]
    return calls


def tool_results(messages: list[Message]) -> dict[str, ToolResultPart]:
    return {
        part.tool_call_id: part
        for m in messages
        if m.role == "tool"
        for part in m.parts
        if isinstance(part, ToolResultPart)
    }


def runner_for(store: SessionStore, model: ScriptedModel, **agent: Any) -> Runner:
    llm = LLMAgent(model=model, tools=[send_money, get_time], **agent)
    return Runner(llm, store=store, app="t")


def requested(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type == "approval.requested"]


async def pause(runner: Runner, user: str = "alice") -> tuple[list[Event], str]:
    events = await collect(runner.run(user, None, "pay bob"))
    [request] = requested(events)
    return events, str((request.data or {})["approval_id"])


async def test_a_call_that_needs_approval_pauses_the_run(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}', id="c1")])
    runner = runner_for(store, model)
    events, approval_id = await pause(runner)
    assert types(events) == [
        "message.received",
        "message.completed",
        "approval.requested",
        "run.completed",
    ]
    assert CALLS == []  # not called
    data = events[2].data or {}
    assert data["tool_name"] == "send_money" and data["tool_call_id"] == "c1"
    assert json.loads(data["arguments"]) == {"to": "bob", "amount": 5}
    terminal = events[-1]
    assert terminal.data is not None and terminal.data["status"] == "paused"
    assert terminal.data["finish_reason"] == "approval_required"
    session = await runner.get_session("alice", events[0].session_id)
    assert [e.id for e in session.events] == [e.id for e in events]  # all stored
    assert summarize_runs(session.events)[0].status == "paused"
    [pending] = await runner.pending_approvals("alice")
    assert pending.approval_id == approval_id and pending.session_id == events[0].session_id
    assert await runner.pending_approvals("bob") == []


async def test_approve_runs_the_call_and_the_agent_goes_on(store: SessionStore) -> None:
    model = ScriptedModel(
        [tool_call("send_money", '{"to": "bob", "amount": 5}', id="c1"), "done: sent"]
    )
    seen = seen_by_model(model)
    runner = runner_for(store, model)
    paused, approval_id = await pause(runner)
    events = await collect(runner.answer_approval("alice", approval_id, approve=True))
    assert types(events) == [
        "approval.answered",
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    assert CALLS == [("send_money", {"to": "bob", "amount": 5})]
    answered = events[0]
    assert answered.run_id != paused[0].run_id  # a new run, linked to the paused one
    assert answered.data is not None and answered.data["paused_run_id"] == paused[0].run_id
    assert answered.data["decision"] == "approved" and answered.data["answered_by"] == "alice"
    assert (events[-1].data or {})["status"] == "completed"
    assert final_text(events) == "done: sent"
    # the model saw its call answered with the tool's result
    assert tool_results(seen[-1])["c1"].content == "sent 5 to bob"
    model.assert_consumed()
    assert await runner.pending_approvals("alice") == []
    runs = summarize_runs((await runner.get_session("alice", paused[0].session_id)).events)
    assert [r.status for r in runs] == ["paused", "completed"]


async def test_approve_with_edited_arguments(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 500}', id="c1"), "ok"])
    seen = seen_by_model(model)
    runner = runner_for(store, model)
    _, approval_id = await pause(runner)
    events = await collect(
        runner.answer_approval(
            "alice", approval_id, approve=True, arguments={"to": "bob", "amount": 50}
        )
    )
    assert CALLS == [("send_money", {"to": "bob", "amount": 50})]
    started = next(e for e in events if e.type == "tool.call.started")
    assert json.loads((started.data or {})["parameters"]) == {"to": "bob", "amount": 50}
    assert json.loads((events[0].data or {})["arguments"]) == {"to": "bob", "amount": 50}
    result = tool_results(seen[-1])["c1"].content
    assert "other arguments" in result and result.endswith("sent 50 to bob")


async def test_reject_tells_the_model_and_never_calls(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}', id="c1"), "ok"])
    seen = seen_by_model(model)
    runner = runner_for(store, model)
    _, approval_id = await pause(runner)
    events = await collect(
        runner.answer_approval("alice", approval_id, approve=False, message="too much")
    )
    assert types(events) == [
        "approval.answered",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    assert CALLS == []
    assert (events[0].data or {})["decision"] == "rejected"
    result = tool_results(seen[-1])["c1"]
    assert result.is_error and "rejected" in result.content and "too much" in result.content


async def test_arguments_only_with_an_approval(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}')])
    runner = runner_for(store, model)
    _, approval_id = await pause(runner)
    with pytest.raises(InvalidArgument, match="arguments"):
        await collect(runner.answer_approval("alice", approval_id, approve=False, arguments={}))


async def test_an_approval_is_answered_once(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}'), "ok"])
    runner = runner_for(store, model)
    paused, approval_id = await pause(runner)
    await collect(runner.answer_approval("alice", approval_id, approve=True))
    count = len((await runner.get_session("alice", paused[0].session_id)).events)
    for approve in (True, False):
        with pytest.raises(ApprovalAnswered, match="already answered") as info:
            await collect(runner.answer_approval("alice", approval_id, approve=approve))
        assert info.value.code == "approval_already_answered"
    # with the session given, the same
    with pytest.raises(ApprovalAnswered):
        await collect(
            runner.answer_approval(
                "alice", approval_id, approve=True, session_id=paused[0].session_id
            )
        )
    assert CALLS == [("send_money", {"to": "bob", "amount": 5})]  # once
    assert len((await runner.get_session("alice", paused[0].session_id)).events) == count


async def test_two_answers_at_once_one_wins(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}'), "ok"])
    runner = runner_for(store, model)
    _, approval_id = await pause(runner)
    results = await asyncio.gather(
        collect(runner.answer_approval("alice", approval_id, approve=True)),
        collect(runner.answer_approval("alice", approval_id, approve=False)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ApprovalAnswered) for r in results) == 1
    assert sum(isinstance(r, list) for r in results) == 1


async def test_another_users_approval_is_refused(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}')])
    runner = runner_for(store, model)
    paused, approval_id = await pause(runner, "alice")
    with pytest.raises(ApprovalForbidden, match="another user") as info:
        await collect(runner.answer_approval("mallory", approval_id, approve=True))
    assert info.value.code == "approval_forbidden"
    # naming alice's session does not help: it is not mallory's
    with pytest.raises(ApprovalNotFound):
        await collect(
            runner.answer_approval(
                "mallory", approval_id, approve=True, session_id=paused[0].session_id
            )
        )
    assert CALLS == []
    assert len(await runner.pending_approvals("alice")) == 1


async def test_unknown_approval_is_not_found(store: SessionStore) -> None:
    runner = runner_for(store, ScriptedModel(["hi"]))
    await collect(runner.run("alice", "s1", "hello"))
    with pytest.raises(ApprovalNotFound, match="not found") as info:
        await collect(runner.answer_approval("alice", "nope", approve=True))
    assert info.value.code == "approval_not_found"
    with pytest.raises(ApprovalNotFound):
        await collect(runner.run("alice", "s1", ApprovalAnswer(approval_id="x", approve=True)))


async def test_a_new_message_expires_pending_approvals(store: SessionStore) -> None:
    model = ScriptedModel(
        [tool_call("send_money", '{"to": "bob", "amount": 5}', id="c1"), "never mind then"]
    )
    seen = seen_by_model(model)
    runner = runner_for(store, model)
    paused, approval_id = await pause(runner)
    session_id = paused[0].session_id
    events = await collect(runner.run("alice", session_id, "forget it"))
    assert types(events) == [
        "approval.answered",
        "tool.call.completed",
        "message.received",
        "message.completed",
        "run.completed",
    ]
    assert (events[0].data or {})["decision"] == "expired"
    # the model reads that the call was not made, before the new message
    last = seen[-1]
    assert last[-1].text == "forget it"
    assert "not run" in tool_results(last)["c1"].content
    with pytest.raises(ApprovalRunFinished, match="is over") as info:
        await collect(runner.answer_approval("alice", approval_id, approve=True))
    assert info.value.code == "approval_run_finished"
    assert CALLS == []
    assert await runner.pending_approvals("alice") == []


async def test_other_calls_of_the_turn_run_before_the_pause(store: SessionStore) -> None:
    model = ScriptedModel(
        [
            [
                tool_call("get_time", id="t1"),
                tool_call("send_money", '{"to": "bob", "amount": 5}', id="c1"),
            ],
            "it is noon and the money is sent",
        ]
    )
    seen = seen_by_model(model)
    runner = runner_for(store, model)
    paused, approval_id = await pause(runner)
    assert types(paused) == [
        "message.received",
        "message.completed",
        "tool.call.started",
        "tool.call.completed",
        "approval.requested",
        "run.completed",
    ]
    assert CALLS == [("get_time", {})]
    await collect(runner.answer_approval("alice", approval_id, approve=True))
    assert CALLS == [("get_time", {}), ("send_money", {"to": "bob", "amount": 5})]
    results = tool_results(seen[-1])
    assert results["t1"].content == "noon" and results["c1"].content == "sent 5 to bob"


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


@function_tool(requires_approval=True)
def screenshot(page: str) -> ToolOutput:
    """Take a screenshot of a page (two images: the top and the bottom)."""
    CALLS.append(("screenshot", {"page": page}))
    return ToolOutput(
        content=f"[image: image/png, {len(PNG) + 1} bytes] x2 of {page}",
        parts=(
            ImagePart(data=PNG + b"\x01", mime_type="image/png"),
            ImagePart(data=PNG + b"\x02", mime_type="image/png"),
        ),
    )


@pytest.mark.parametrize("limit", [4, 1, 0])
async def test_the_images_of_an_approved_call_reach_the_model(
    store: SessionStore, limit: int
) -> None:
    model = ScriptedModel(
        [tool_call("screenshot", '{"page": "home"}', id="c1"), "a red square", "still red"]
    )
    llm = LLMAgent(model=model, tools=[screenshot], max_tool_images=limit)
    runner = Runner(llm, store=store, app="t")
    paused = await collect(runner.run("alice", None, "look at home"))
    [request] = requested(paused)
    approval_id = str((request.data or {})["approval_id"])
    events = await collect(runner.answer_approval("alice", approval_id, approve=True))
    assert final_text(events) == "a red square"
    assert CALLS == [("screenshot", {"page": "home"})]
    after = model.calls[1]
    assert [m.role for m in after] == ["user", "assistant", "tool", *(["tool"] * (limit > 0))]
    assert "x2 of home" in tool_results(after)["c1"].content
    if limit:
        shown = after[-1]
        named = "The 2 images returned by tool screenshot (call c1):"
        assert shown.parts[0] == TextPart(text=named)
        images = [p.data for p in shown.parts if type(p) is ImagePart]
        assert images == [PNG + b"\x01", PNG + b"\x02"][-limit:]  # the newest `limit`
    # the images were for that run only: the next run's model reads the text naming them
    await collect(runner.run("alice", paused[0].session_id, "and now?"))
    later = model.calls[2]
    assert not any(type(p) is ImagePart for m in later for p in m.parts)
    model.assert_consumed()


async def test_a_rejected_call_shows_no_images(store: SessionStore) -> None:
    model = ScriptedModel([tool_call("screenshot", '{"page": "home"}', id="c1"), "ok"])
    runner = Runner(LLMAgent(model=model, tools=[screenshot]), store=store, app="t")
    paused = await collect(runner.run("alice", None, "look at home"))
    [request] = requested(paused)
    approval_id = str((request.data or {})["approval_id"])
    await collect(runner.answer_approval("alice", approval_id, approve=False))
    assert CALLS == []
    assert [m.role for m in model.calls[1]] == ["user", "assistant", "tool"]


async def test_two_approvals_in_one_turn_wait_for_both(store: SessionStore) -> None:
    model = ScriptedModel(
        [
            [
                tool_call("send_money", '{"to": "bob", "amount": 1}', id="c1"),
                tool_call("send_money", '{"to": "eve", "amount": 2}', id="c2"),
            ],
            "done",
        ]
    )
    runner = runner_for(store, model)
    events = await collect(runner.run("alice", None, "pay both"))
    first, second = (str((e.data or {})["approval_id"]) for e in requested(events))
    one = await collect(runner.answer_approval("alice", second, approve=False))
    assert types(one) == ["approval.answered", "tool.call.completed", "run.completed"]
    assert (one[-1].data or {})["status"] == "paused"  # still waiting for the first
    assert [p.approval_id for p in await runner.pending_approvals("alice")] == [first]
    two = await collect(runner.answer_approval("alice", first, approve=True))
    assert (two[-1].data or {})["status"] == "completed" and final_text(two) == "done"
    assert CALLS == [("send_money", {"to": "bob", "amount": 1})]
    model.assert_consumed()


async def test_approval_by_name_pattern_and_wrapper(store: SessionStore) -> None:
    class Echo:
        spec = get_time_tool().spec.__class__(name="srv__echo", description="echo")

        async def call(self, arguments: dict[str, Any]) -> ToolOutput:
            CALLS.append(("srv__echo", arguments))
            return ToolOutput(content="echoed")

    async def delete_all() -> str:
        """Delete everything."""
        CALLS.append(("delete_all", {}))
        return "deleted"

    model = ScriptedModel([tool_call("srv__echo", id="e1"), tool_call("delete_all", id="d1")])
    agent = LLMAgent(
        model=model, tools=[Echo(), requires_approval(delete_all), get_time], approval=["srv__*"]
    )
    assert agent.approval == {"srv__echo", "delete_all"}
    runner = Runner(agent, store=store, app="t")
    assert requested(await collect(runner.run("u", None, "echo")))
    assert requested(await collect(runner.run("u", None, "delete")))
    assert CALLS == []


def get_time_tool() -> Any:
    return function_tool(get_time)


def test_a_pattern_that_matches_no_tool_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="matches none"):
        LLMAgent(model=ScriptedModel([]), tools=[get_time], approval=["get_tiem"])


async def test_the_host_refuses_a_marked_tool_outside_the_loop(store: SessionStore) -> None:
    """An agent that calls tools itself (a plugin) cannot pause: the host refuses."""
    from agenthost.ports.protocol import RunCompleted

    outputs: list[str] = []

    class Caller:
        manifest = LLMAgent(model=ScriptedModel([]), tools=[send_money]).manifest

        def catalog(self) -> Any:
            from agenthost.engine.catalog import catalog_of

            return catalog_of(tools=[send_money])

        async def run(self, ctx: Any, host: Any) -> Any:
            try:
                await host.tools.call("send_money", {"to": "x", "amount": 1})
            except Exception as exc:
                outputs.append(str(exc))
            yield RunCompleted()

    runner = Runner(Caller(), store=store, app="t")  # type: ignore[arg-type]
    await collect(runner.run("u", None, "go"))
    assert CALLS == [] and "approval" in outputs[0]


async def test_the_index_is_kept_and_cleaned(store: SessionStore) -> None:
    assert isinstance(store, KeyValueStore)
    model = ScriptedModel([tool_call("send_money", '{"to": "bob", "amount": 5}'), "ok"])
    runner = runner_for(store, model)
    _, approval_id = await pause(runner)
    assert await store.kv_keys(INDEX) == [approval_id]
    await collect(runner.answer_approval("alice", approval_id, approve=True))
    assert await store.kv_keys(INDEX) == []


async def test_streaming_continuation_delivers_deltas(store: SessionStore) -> None:
    model = FunctionModel(
        lambda messages, tools: (
            tool_call("send_money", '{"to": "bob", "amount": 5}')
            if messages[-1].role == "user"
            else "the money is on its way"
        )
    )
    runner = Runner(LLMAgent(model=model, tools=[send_money]), store=store, app="t")
    events = await collect(runner.run("alice", None, "pay"))
    [request] = requested(events)
    answer = await collect(
        runner.answer_approval("alice", str((request.data or {})["approval_id"]), approve=True)
    )
    assert any(e.type == "message.delta" for e in answer)
    assert final_text(answer) == "the money is on its way"
