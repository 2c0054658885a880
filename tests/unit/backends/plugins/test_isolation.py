"""Plugin isolation: a plugin names only the runs it serves, and a crash report quotes only
what the failing run can own."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agenthost.backends.plugins import PluginAgent
from agenthost.backends.sessions import open_session_store
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    Permissions,
    ResultBatch,
    RunCompleted,
    RunContext,
)
from agenthost.ports.sessions import SessionStore

PLUGIN = Path(__file__).with_name("isolation_plugin.py")


def plugin() -> PluginAgent:
    return PluginAgent(
        command=[sys.executable, str(PLUGIN)],
        allowed_permissions=Permissions(state=["session"]),
        start_timeout=30,
    )


class Holding:
    """An in-process agent whose run stays live until `release` is set."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.release = asyncio.Event()

    @property
    def manifest(self) -> Manifest:
        return Manifest(id="test/holding", name="holding")

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        self.running.set()
        await self.release.wait()
        yield [MessageCompleted(message=Message.assistant("released")), RunCompleted()]


@pytest.fixture
async def mem() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as store:
        yield store


async def test_a_plugin_naming_another_users_live_run_is_refused(mem: SessionStore) -> None:
    holding = Holding()
    bob_runner = Runner(holding, store=mem, app="shared")
    async with Runner(plugin(), store=mem, app="shared") as alice_runner:
        bob = asyncio.create_task(collect(bob_runner.run("bob", "b", "hi", run_id="bob-run")))
        await holding.running.wait()
        assert [r.run_id for r in bob_runner.active_runs()] == ["bob-run"]
        events = await collect(alice_runner.run("alice", "a", "name bob-run"))
        assert final_text(events) == "unauthorized"
        own = await collect(alice_runner.run("alice", "a", "name alice-run", run_id="alice-run"))
        assert final_text(own) == "ok"  # its own run it may name
        holding.release.set()
        assert final_text(await bob) == "released"


def _error(events: list[Event]) -> str:
    last = events[-1]
    assert last.type == "run.failed" and last.error is not None
    assert last.error.code == "plugin.crashed"
    return last.error.message


async def test_a_crash_report_quotes_no_other_runs_stderr(mem: SessionStore) -> None:
    async with Runner(plugin(), store=mem) as runner:
        said = await collect(runner.run("alice", "a", "say alice-secret"))
        assert final_text(said) == "said"
        message = _error(await collect(runner.run("bob", "b", "crash bob-line")))
    assert "alice-secret" not in message
    assert "exited with code 3" in message and "host's log" in message


async def test_a_crash_in_the_first_run_quotes_its_own_stderr(mem: SessionStore) -> None:
    async with Runner(plugin(), store=mem) as runner:
        message = _error(await collect(runner.run("bob", "b", "crash bob-line")))
    assert "bob-line" in message


async def test_a_plugin_that_cannot_import_a_module_says_which_python_to_use(
    mem: SessionStore,
) -> None:
    """`command: [python3, plugin.py]` finds the first python3 on PATH, which may not be the
    virtualenv agenthost runs in: the crash report says so and names the interpreter to use."""
    crashing = PluginAgent(command=[sys.executable, "-c", "import a_module_not_installed"])
    async with Runner(crashing, store=mem) as runner:
        message = _error(await collect(runner.run("bob", "b", "hi")))
    assert "No module named 'a_module_not_installed'" in message
    assert f"start it with the Python agenthost runs in ({sys.executable})" in message


async def test_a_call_naming_another_run_on_a_runs_channel_is_refused() -> None:
    """Over HTTP every host call comes on the stream of one run: it may name only that run,
    and the refusal comes before the host is touched."""
    from agenthost.backends.plugins._serve import serve_host_call
    from agenthost.ports import wire

    answers: list[bytes] = []

    async def reply(data: bytes) -> None:
        answers.append(data)

    frame = wire.decode_frame(
        wire.request(7, "host.history_messages", wire.RunOnlyParams(run_id="bob-run"))
    )
    host: object = object()  # any use of the host would fail: the refusal comes first
    await serve_host_call(
        frame,
        host=host,  # type: ignore[arg-type]
        run_id="alice-run",
        permissions=Permissions(history=["page"]),
        plugin="p",
        reply=reply,
    )
    [answer] = answers
    error = wire.decode_frame(answer).error
    assert isinstance(error, wire.RpcError)
    assert wire.host_api_error(error).code == "unauthorized"
