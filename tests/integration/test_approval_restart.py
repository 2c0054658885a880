"""A run paused for approval survives the process: one process pauses and is killed, a new
process on the same SQLite file answers, the call is made there and the agent goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.events import summarize_runs
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import ScriptedModel

pytestmark = pytest.mark.integration

CHILD = str(Path(__file__).with_name("approval_child.py"))


def _env(log: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "APPROVAL_LOG": str(log)}


def pause_then_kill(url: str, log: Path) -> str:
    child = subprocess.Popen(
        [sys.executable, CHILD, "pause", url], stdout=subprocess.PIPE, text=True, env=_env(log)
    )
    assert child.stdout is not None
    try:
        approval_id = child.stdout.readline().strip()
        assert child.stdout.readline().strip() == "paused"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    return approval_id


def answer(url: str, log: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, CHILD, "answer", url, *args],
        capture_output=True,
        text=True,
        env=_env(log),
        timeout=120,
    )


async def test_a_pause_survives_a_killed_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/approval.db"
    log = tmp_path / "calls.jsonl"
    approval_id = pause_then_kill(url, log)
    assert approval_id and not log.exists()  # nothing was called before the answer

    done = answer(url, log, approval_id, "approve", '{"to": "bob", "amount": 50}')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [
        "approval.answered ",
        "tool.call.started ",
        "tool.call.completed ",
        "message.completed ",
    ]
    assert done.stdout.strip().endswith("run.completed completed")
    [call] = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["to"] == "bob" and call["amount"] == 50  # the edited arguments

    again = answer(url, log, approval_id, "reject")  # a third process: answered already
    assert again.returncode == 1 and "approval_already_answered" not in again.stdout
    assert "already answered" in again.stderr
    assert len(log.read_text().splitlines()) == 1

    async with open_session_store(url) as store:
        runner = Runner(LLMAgent(model=ScriptedModel([])), store=store, app="restart")
        session = await runner.get_session("alice", "s1")
        assert [r.status for r in summarize_runs(session.events)] == ["paused", "completed"]
        assert await runner.pending_approvals("alice") == []
