"""Plugin agents in real subprocesses, through the real Runner: stdio and HTTP."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.plugins import PluginAgent
from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import ConfigError
from agenthost.core.events import Event
from agenthost.engine.composition import ChainAgent
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.protocol import Permissions, Resources, StateResource, ToolResource
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "examples" / "plugins" / "echo_plugin.py"
BEHAVIOUR = Path(__file__).with_name("plugins") / "behaviour_plugin.py"
RAW = Path(__file__).with_name("plugins") / "raw_plugin.py"
TOOLS_AND_STATE = Permissions(tools=True, state=["session"])


def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def secret(a: float, b: float) -> str:
    """Not for plugins."""
    return "the secret"


def echo_plugin(**kw: Any) -> PluginAgent:
    return PluginAgent(
        command=[sys.executable, str(ECHO)], allowed_permissions=TOOLS_AND_STATE, **kw
    )


def behaviour_plugin(**kw: Any) -> PluginAgent:
    allowed = Permissions(models=True)
    return PluginAgent(command=[sys.executable, str(BEHAVIOUR)], allowed_permissions=allowed, **kw)


def raw_plugin(*argv: str, **kw: Any) -> PluginAgent:
    return PluginAgent(command=[sys.executable, str(RAW), *argv], **kw)


def error_code(events: list[Event]) -> str | None:
    last = events[-1]
    assert last.is_terminal
    return last.error.code if last.error is not None else None


@pytest.fixture
async def mem() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as store:
        yield store


async def run(runner: Runner, text: str, session: str = "s", **kw: Any) -> list[Event]:
    return await asyncio.wait_for(collect(runner.run("u", session, text, **kw)), 120)


async def started(runner: Runner, text: str, session: str) -> asyncio.Task[list[Event]]:
    """Start a run; return its task once the plugin has streamed a first delta for it (the
    run is inside the plugin process)."""
    streamed = asyncio.Event()

    async def go() -> list[Event]:
        events = []
        async for event in runner.run("u", session, text):
            events.append(event)
            if event.partial:
                streamed.set()
        return events

    task = asyncio.create_task(go())
    waiting = asyncio.create_task(streamed.wait())
    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert streamed.is_set(), task.result()
    return task


# ---- the happy path -----------------------------------------------------------------------


async def test_a_run_streams_results_through_the_runner(mem: SessionStore) -> None:
    async with Runner(echo_plugin(name="echo"), store=mem) as runner:
        events = await run(runner, "hello there")
    assert [e.type for e in events if not e.partial] == [
        "message.received",
        "state.updated",  # the plugin's host.state_set, stored with its next result
        "message.completed",
        "run.completed",
    ]
    deltas = [e.text for e in events if e.partial]
    assert len(deltas) > 3 and "".join(deltas).strip() == final_text(events)
    assert final_text(events).startswith("echo: hello there (turn 1, pid ")
    assert {e.author for e in events[1:-1]} == {"echo"}


async def test_host_calls_are_authorized_against_the_run(
    mem: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    resources = Resources(
        tools=[ToolResource(tool_name="add")],
        state=StateResource(read=["session"], write=["session"]),
    )
    plugin = echo_plugin()
    async with Runner(plugin, store=mem, tools=[add, secret], resources=resources) as runner:
        allowed = await run(runner, "add 2 3")
        with caplog.at_level(logging.WARNING, logger="agenthost.host"):
            refused = await run(runner, "secret 2 3", session="other")
    assert final_text(allowed).startswith("2 + 3 = 5.0")
    # the secret tool exists on the host, but this run was not granted it; the run goes on
    assert final_text(refused).startswith("the host refused secret: unauthorized")
    assert refused[-1].type == "run.completed"
    assert any("not granted" in r.message for r in caplog.records)
    assert plugin.manifest.id == "example:echo"  # the plugin's own, once started


async def test_state_set_in_the_plugin_is_persisted(store: SessionStore) -> None:
    async with Runner(echo_plugin(), store=store) as runner:
        first = await run(runner, "one")
        second = await run(runner, "two")
        session = await runner.get_session("u", "s")
    assert "(turn 1," in final_text(first) and "(turn 2," in final_text(second)
    assert session.state == {"turns": 2}
    assert [e.state_delta for e in session.events if e.type == "state.updated"] == [
        {"turns": 1},
        {"turns": 2},
    ]


async def test_five_concurrent_runs_on_one_plugin_process(mem: SessionStore) -> None:
    async with Runner(behaviour_plugin(), store=mem) as runner:
        # each run waits inside the plugin until all five are there: served one at a time,
        # they would never finish (the test's timeout would fail it)
        results = await asyncio.gather(*(run(runner, "meet 5", session=f"s{i}") for i in range(5)))
    texts = [final_text(events) for events in results]
    assert all(t.startswith("met (pid ") for t in texts)
    assert len(set(texts)) == 1  # one process served them all, at the same time


async def test_a_plugin_agent_composes_with_other_agents(mem: SessionStore) -> None:
    summarizer = ScriptedModel(["short version"], name="test:sum")
    chain = ChainAgent([echo_plugin(name="echo"), LLMAgent(model=summarizer, name="sum")])
    async with Runner(chain, store=mem) as runner:
        events = await run(runner, "a long text")
    assert final_text(events) == "short version"
    assert summarizer.calls[0][-1].text.startswith("echo: a long text (turn 1")
    assert [e.branch for e in events if e.type == "message.completed"] == [
        "chain.echo",
        "chain.sum",
    ]


async def test_the_plugin_streams_and_invokes_the_hosts_model(mem: SessionStore) -> None:
    model = ScriptedModel(["streamed answer", "plain answer"], name="test:m", chunk_size=3)
    async with Runner(behaviour_plugin(), store=mem, models=[model]) as runner:
        events = await run(runner, "model")
    assert final_text(events) == "streamed answer / plain answer / 1"
    assert [e.text for e in events if e.partial] == ["str", "eam", "ed ", "ans", "wer"]
    assert [m[0].text for m in model.calls] == ["stream please", "once more"]


# ---- failures end that run only -----------------------------------------------------------


async def test_a_crash_fails_the_run_and_the_next_run_restarts_it(mem: SessionStore) -> None:
    async with Runner(behaviour_plugin(), store=mem) as runner:
        before = final_text(await run(runner, "pid", session="a"))
        crashed = await run(runner, "crash", session="b")
        after = await run(runner, "pid", session="c")
    assert error_code(crashed) == "plugin.crashed"
    assert crashed[-1].error is not None and "exited with code 3" in crashed[-1].error.message
    assert crashed[-1].error.retryable
    assert any(e.partial for e in crashed)  # what it streamed before dying came through
    assert after[-1].type == "run.completed"
    assert final_text(after) != before  # a new process


async def test_a_crash_fails_every_run_on_that_process(mem: SessionStore) -> None:
    async with Runner(behaviour_plugin(), store=mem) as runner:
        sleeping = await started(runner, "sleep 3600", session="a")
        crashed = await run(runner, "crash", session="b")
        assert error_code(await asyncio.wait_for(sleeping, 120)) == "plugin.crashed"
    assert error_code(crashed) == "plugin.crashed"


async def test_a_malformed_result_fails_that_run_only(mem: SessionStore) -> None:
    async with Runner(raw_plugin(), store=mem) as runner:
        bad = await run(runner, "malformed")
        good = await run(runner, "hello")
    assert error_code(bad) == "plugin.protocol_error"
    assert bad[-1].error is not None and "message" in bad[-1].error.message
    assert final_text(good) == "raw says hello"


async def test_a_malformed_frame_does_not_disturb_other_runs(mem: SessionStore) -> None:
    async with Runner(behaviour_plugin(), store=mem) as runner:
        sleeping = await started(runner, "sleep 1", session="a")
        bad = await run(runner, "malformed", session="b")
        good = await sleeping
    assert error_code(bad) == "plugin.protocol_error"
    assert good[-1].type == "run.completed" and final_text(good).startswith("slept")


async def test_a_line_that_is_not_json_breaks_the_connection(mem: SessionStore) -> None:
    async with Runner(raw_plugin(), store=mem) as runner:
        bad = await run(runner, "garbage")
        good = await run(runner, "hello")
    assert error_code(bad) == "plugin.protocol_error"
    assert bad[-1].error is not None and "this is not json" in bad[-1].error.message
    assert final_text(good) == "raw says hello"  # a new process


async def test_lost_results_are_a_protocol_error(mem: SessionStore) -> None:
    async with Runner(raw_plugin(), store=mem) as runner:
        events = await run(runner, "skip")
    assert error_code(events) == "plugin.protocol_error"


async def test_an_agent_error_in_the_plugin_fails_the_run(mem: SessionStore) -> None:
    async with Runner(behaviour_plugin(), store=mem) as runner:
        events = await run(runner, "boom")
    assert error_code(events) == "runner.error"
    assert events[-1].error is not None
    assert "RuntimeError: the agent blew up" in events[-1].error.message


# ---- what the host allows ------------------------------------------------------------------


async def test_a_wrong_protocol_version_is_refused(mem: SessionStore) -> None:
    agent = raw_plugin("2")
    with pytest.raises(ConfigError, match=r"speaks agent protocol \['2'\].*speaks '1'"):
        await agent.start()
    async with Runner(agent, store=mem) as runner:
        events = await run(runner, "hello")
    assert error_code(events) == "config_error"


async def test_permissions_beyond_what_the_host_allows_are_refused() -> None:
    agent = raw_plugin("1", "tools", "state", allowed_permissions=Permissions(tools=True))
    with pytest.raises(ConfigError, match=r"does not allow: state: session"):
        await agent.start()
    await agent.aclose()


async def test_undeclared_permissions_are_refused_and_the_run_goes_on(mem: SessionStore) -> None:
    async with Runner(behaviour_plugin(), store=mem) as runner:
        events = await run(runner, "history")
    assert final_text(events) == "history: unauthorized"


async def test_a_plugin_written_without_the_sdk(mem: SessionStore) -> None:
    agent = raw_plugin("1", "tools", "state", allowed_permissions=TOOLS_AND_STATE)
    async with Runner(agent, store=mem, tools=[add]) as runner:
        events = await run(runner, "host")
        session = await runner.get_session("u", "s")
    assert final_text(events) == "state: ok; tool: 3.0"
    assert session.state == {"raw": 7}


async def test_the_minimal_plugin_example(mem: SessionStore) -> None:
    script = ROOT / "examples" / "plugins" / "minimal_plugin.py"
    async with Runner(PluginAgent([sys.executable, str(script)]), store=mem) as runner:
        events = await run(runner, "stressed")
    assert final_text(events) == "desserts"
    assert events[-1].type == "run.completed"


def test_a_plugin_agent_needs_a_command_or_a_url() -> None:
    with pytest.raises(ConfigError, match="either command"):
        PluginAgent()
    with pytest.raises(ConfigError, match="non-empty list"):
        PluginAgent("python plugin.py")


async def test_a_command_that_does_not_exist(mem: SessionStore) -> None:
    async with Runner(PluginAgent(["/nonexistent/plugin"]), store=mem) as runner:
        events = await run(runner, "hi")
    assert error_code(events) == "config_error"


# ---- HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def http_plugin() -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(script: Path) -> str:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--http", "127.0.0.1:0"],
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("listening on "):
                return line.split()[-1]
        raise AssertionError("the plugin did not start")

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(5)
        assert proc.stderr is not None
        proc.stderr.close()


async def test_over_http(mem: SessionStore, http_plugin: Any) -> None:
    url = http_plugin(ECHO)
    resources = Resources(tools=[ToolResource(tool_name="add")])
    agent = PluginAgent(url=url, allowed_permissions=TOOLS_AND_STATE)
    async with Runner(agent, store=mem, tools=[add, secret], resources=resources) as runner:
        allowed = await run(runner, "add 2 3")
        refused = await run(runner, "secret 1 1")
        many = await asyncio.gather(*(run(runner, f"hi {i}", session=f"c{i}") for i in range(5)))
        session = await runner.get_session("u", "s")
    assert final_text(allowed).startswith("2 + 3 = 5.0 (turn 1")
    assert final_text(refused).startswith("the host refused secret: unauthorized (turn 2")
    assert session.state == {"turns": 2}
    assert all(final_text(e).startswith(f"echo: hi {i} (turn 1") for i, e in enumerate(many))
    assert any(e.partial for e in allowed)


async def test_a_crash_over_http_leaves_the_plugin_unavailable(
    mem: SessionStore, http_plugin: Any
) -> None:
    url = http_plugin(BEHAVIOUR)
    agent = PluginAgent(url=url, allowed_permissions=Permissions(models=True))
    async with Runner(agent, store=mem) as runner:
        crashed = await run(runner, "crash", session="b")
        gone = await run(runner, "pid", session="c")
    assert error_code(crashed) == "plugin.crashed"
    assert error_code(gone) == "plugin.unavailable"
