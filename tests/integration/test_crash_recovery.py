"""A process killed in the middle of a run: after restart the session loads, holds every
event that had been yielded, and shows the run as interrupted; nothing fools that judgement
(a reused pid, a live replica elsewhere)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.events import summarize_runs
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.testing.scripted import ScriptedModel

pytestmark = pytest.mark.integration

YIELDED = ["message.received", "message.completed", "tool.call.started"]


@contextmanager
def child_in_tool(url: str) -> Iterator[tuple[subprocess.Popen[str], list[tuple[str, str]]]]:
    """A child process whose run is inside a tool call that never returns; killed on exit."""
    child = subprocess.Popen(
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
        assert [k for _, k in yielded] == YIELDED
        yield child, yielded
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()


def rewrite_owner(db: Path, change: dict[str, object], *, old_pid: int, new_pid: int) -> None:
    """Edit the stored owner record of the run (what a reused pid or another host looks like)."""
    with sqlite3.connect(db) as conn:
        event_id, blob = conn.execute(
            "SELECT id, data FROM events WHERE type = 'message.received'"
        ).fetchone()
        event = json.loads(blob)
        data = event["data"]
        if isinstance(data.get("owner"), dict):
            assert data["owner"]["pid"] == old_pid
            data["owner"].update(change)
        if "pid" in change and isinstance(data.get("runner"), str):  # the pre-lease record
            data["runner"] = re.sub(rf":{old_pid}$", f":{new_pid}", data["runner"])
        conn.execute("UPDATE events SET data = ? WHERE id = ?", (json.dumps(event), event_id))


async def load(url: str, *, clock_offset: float = 0.0) -> list[str]:
    """The event types of the session, as a new process loading it sees them."""
    async with open_session_store(url) as store:
        runner = Runner(LLMAgent(model=ScriptedModel([])), store=store, app="crash")
        if clock_offset:
            runner.recovery.clock = lambda: time.time() + clock_offset
        session = await runner.get_session("u", "s")
        return [e.type for e in session.events]


async def test_kill_mid_run_then_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    with child_in_tool(url) as (_, yielded):
        pass

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


async def test_a_live_owner_is_left_alone_until_it_dies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    with child_in_tool(url):
        assert await load(url) == YIELDED  # still running in the child: not interrupted
    assert await load(url) == [*YIELDED, "run.interrupted"]


async def test_a_live_process_given_the_dead_ones_pid_does_not_keep_the_run_open(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    with child_in_tool(url) as (child, _):
        pass
    # A pid cannot be chosen; pointing the dead owner's record at a live process is the same
    # thing as the kernel giving the dead server's pid to a new process.
    other = subprocess.Popen(["sleep", "600"])  # noqa: ASYNC220 - killed below
    try:
        db = tmp_path / "crash.db"
        rewrite_owner(db, {"pid": other.pid}, old_pid=child.pid, new_pid=other.pid)
        assert await load(url) == [*YIELDED, "run.interrupted"]
    finally:
        other.kill()
        other.wait(10)


async def test_an_owner_on_another_machine_is_judged_by_its_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    with child_in_tool(url) as (child, _):
        pass
    rewrite_owner(
        tmp_path / "crash.db",
        {"machine": "another-boot/4026531836", "host": "elsewhere"},
        old_pid=child.pid,
        new_pid=child.pid,
    )
    # the child renewed its lease for 60 s when it started: a replica cannot know it died yet
    assert await load(url) == YIELDED
    # two minutes later the lease has expired: the run is closed
    assert await load(url, clock_offset=120) == [*YIELDED, "run.interrupted"]
