"""The run path: ModelChain is a ChatModel, tool results carry their message, one rule for
how a run.completed message becomes an event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agenthost.core.errors import (
    ConfigError,
    MaxToolRoundsExceeded,
    MaxTurnsExceeded,
    ModelHTTPError,
)
from agenthost.core.messages import Message
from agenthost.engine import resolve
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.model_chain import ModelChain, RetryPolicy
from agenthost.engine.runner import Runner, collect
from agenthost.ports.models import ChatModel, ResponseDone, TextDelta
from agenthost.ports.protocol import RunCompleted, ToolCallCompleted
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import FunctionModel, ScriptedModel, tool_call


async def test_model_chain_is_a_chat_model_that_retries_then_falls_back() -> None:
    busy = ModelHTTPError(model="a", status_code=503, body="busy")
    first = ScriptedModel([busy, busy], name="test:a")
    second = ScriptedModel(["from b"], name="test:b")
    chain = ModelChain([first, second], RetryPolicy(retries=1, backoff=0))
    assert isinstance(chain, ChatModel) and chain.name == "test:a"
    response = await chain.request([Message.user("hi")])
    assert response.message.text == "from b" and response.model == "test:b"
    first.assert_consumed()


async def test_model_chain_streams_and_does_not_retry_a_stream_that_produced_output() -> None:
    chain = ModelChain([ScriptedModel(["streamed"], name="test:a", chunk_size=3)])
    items = [item async for item in chain.stream([Message.user("hi")])]
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "streamed"
    assert isinstance(items[-1], ResponseDone)
    with pytest.raises(ValueError, match="at least one model"):
        ModelChain([])


async def test_the_stored_tool_message_is_the_one_sent_to_the_model(store: SessionStore) -> None:
    seen: list[list[Message]] = []

    def reply(messages: list[Message], tools: Any) -> Any:
        seen.append(messages)
        return tool_call("lookup", "{}", id="c1") if len(seen) == 1 else "done"

    async def lookup() -> str:
        return "found"

    runner = Runner(LLMAgent(model=FunctionModel(reply), tools=[lookup]), store=store)
    events = await collect(runner.run("u", "s", "go"))
    [completed] = [e for e in events if e.type == "tool.call.completed"]
    assert completed.message is seen[1][-1]  # one object: stored, yielded and sent


def test_a_tool_result_makes_its_message_once() -> None:
    result = ToolCallCompleted.of("c1", "t", "boom", error=True)
    assert result.message is not None and result.tool_message() is result.message
    assert result.error == "boom"
    bare = ToolCallCompleted(tool_call_id="c1", tool_name="t", result="ok")
    [part] = bare.tool_message().parts
    assert getattr(part, "content", None) == "ok" and getattr(part, "is_error", None) is False


def test_run_completed_final_is_the_one_completion_rule() -> None:
    assert RunCompleted().final() is None
    done = RunCompleted(message=Message.assistant("bye"), author="a", branch="x.a").final()
    assert done is not None and done.message.text == "bye"
    assert (done.author, done.branch, done.usage) == ("a", "x.a", None)


def test_max_tool_rounds_has_one_name() -> None:
    assert MaxTurnsExceeded is MaxToolRoundsExceeded
    assert MaxToolRoundsExceeded(3).code == "max_tool_rounds_exceeded"


def test_without_a_resolver_a_model_string_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resolve, "_resolver", None)
    with pytest.raises(ConfigError, match="no model resolver"):
        resolve.resolve_model("openai:gpt-4o-mini")


async def test_a_finished_run_leaves_nothing_for_the_cyclic_gc(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's objects (gate, capabilities, active run, context) are freed by reference
    counting when a run ends; under load, leaving them to the cyclic GC cost ~0.6 ms a run."""
    import gc
    import weakref

    from agenthost.engine import runner as runner_module
    from agenthost.engine.active import ActiveRun
    from agenthost.engine.host import Host, run_host

    runs: list[weakref.ref[Any]] = []

    def spy(run: ActiveRun) -> Host:
        run.done = asyncio.Event()  # as `Runner.wait` makes it; ActiveRun has slots, not it
        runs.append(weakref.ref(run.done))
        return run_host(run)

    monkeypatch.setattr(runner_module, "run_host", spy)

    async def lookup(query: str) -> str:
        """Look something up.

        Args:
            query: what to look up
        """
        return f"found {query}"

    steps: list[Any] = [tool_call("lookup", '{"query": "x"}'), "done"] * 4
    agent = LLMAgent(model=ScriptedModel(steps), tools=[lookup])
    gc.collect()
    gc.disable()
    try:
        async with Runner(agent, store=store) as runner:
            for n in range(4):
                await collect(runner.run("u", "s", f"turn {n}"))
            alive = sum(ref() is not None for ref in runs)
            gc.collect()
            after_gc = sum(ref() is not None for ref in runs)
    finally:
        gc.enable()
    assert len(runs) == 4
    assert alive == after_gc  # nothing of a finished run was waiting for the cyclic GC
