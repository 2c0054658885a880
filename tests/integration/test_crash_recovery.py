"""A process killed in the middle of a run: after restart the session loads, holds every
event that had been yielded, and shows the run as interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.events import summarize_runs
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.testing.scripted import ScriptedModel

pytestmark = pytest.mark.integration


async def test_kill_mid_run_then_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    child = subprocess.Popen(  # noqa: ASYNC220 - we read its output line by line
        [sys.executable, str(Path(__file__).with_name("crash_child.py")), url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    yielded: list[tuple[str, str]] = []
    try:
        for line in child.stdout:
            event_id, kind = line.split()
            yielded.append((event_id, kind))
            if kind == "tool.call.started":
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
        child.stdout.close()
    assert [k for _, k in yielded] == ["message.received", "message.completed", "tool.call.started"]

    async with open_session_store(url) as store:
        runner = Runner(LLMAgent(model=ScriptedModel(["back again"])), store=store, app="crash")
        session = await runner.get_session("u", "s")
        stored = [(e.id, e.type) for e in session.events]
        assert stored[: len(yielded)] == yielded
        assert stored[-1][1] == "run.interrupted"
        assert summarize_runs(session.events)[0].status == "interrupted"
        # and the session goes on; the dangling tool call is closed for the model
        events = await collect(runner.run("u", "s", "are you there?"))
        assert final_text(events) == "back again"
