"""Store faults end to end: the SQLite file deleted under a running server (the run in flight
fails with `store_error`, never `run.completed` for events that were not stored; readiness
fails), and `agenthost serve` refusing a damaged database or a bad config in one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from agenthost.backends.sessions import SQLiteSessionStore
from agenthost.core.errors import StoreError
from agenthost.core.events import Event
from agenthost.core.session import SessionKey
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.server.app import create_app
from agenthost.testing.scripted import ScriptedModel, tool_call
from tests.unit.backends.sessions.sqlite_helpers import damage, fill, not_a_database

pytestmark = pytest.mark.integration


class Gate:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def wait_here(self) -> str:
        """A tool that waits until the test lets it go."""
        self.entered.set()
        await self.release.wait()
        return "released"


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[tuple[Runner, Gate, Path]]:
    gate = Gate()
    db = tmp_path / "sessions.db"
    model = ScriptedModel([tool_call("wait_here"), "all done"])
    async with SQLiteSessionStore(db) as store:
        agent = LLMAgent(model=model, tools=[gate.wait_here])
        async with Runner(agent, store=store, app="faults") as run:
            yield run, gate, db


async def test_the_runner_never_reports_completed_what_it_could_not_store(
    runner: tuple[Runner, Gate, Path],
) -> None:
    run, gate, db = runner
    seen: list[Event] = []
    async for event in run.run("u", "s", "go"):
        seen.append(event)
        if event.type == "tool.call.started":
            db.unlink()
            gate.release.set()
    types = [e.type for e in seen]
    assert "run.completed" not in types and "tool.call.completed" not in types
    last = seen[-1]
    assert last.type == "run.failed" and last.error is not None
    assert last.error.code == "store_error" and "was deleted" in last.error.message
    with pytest.raises(StoreError, match="was deleted"):  # and it stays refused
        await run.store.get(SessionKey("faults", "u", "s"))


async def test_the_server_fails_the_run_with_store_error_and_readiness(
    runner: tuple[Runner, Gate, Path],
) -> None:
    run, gate, db = runner
    app = create_app({"helper": run}, api_keys=[])
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        body = {"message": "go", "stream": False}
        async with asyncio.TaskGroup() as group:
            answer = group.create_task(client.post("/v1/apps/helper/runs", json=body))
            await gate.entered.wait()
            db.unlink()
            gate.release.set()
        result = answer.result().json()
        assert result["status"] == "failed"
        assert result["error"]["code"] == "store_error"
        assert "run.completed" not in [e["type"] for e in result["events"]]
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and "was deleted" in ready.json()["problems"][0]


def write_damaged(db: Path, kind: str) -> None:
    if kind == "not-a-database":
        not_a_database(db)
    else:
        asyncio.run(fill(db))
        damage(db)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("not-a-database", "is damaged or not an agenthost database (file is not a database)"),
        ("damaged-page", "is damaged or not an agenthost database"),
        ("bad-config", "agents: expected a mapping"),
    ],
)
def test_serve_refuses_to_start_with_one_clear_line_and_exit_code_2(
    tmp_path: Path, fault: str, said: str
) -> None:
    db = tmp_path / "sessions.db"
    config = tmp_path / "agenthost.yaml"
    if fault == "bad-config":
        config.write_text("agents: 5\n")
    else:
        write_damaged(db, fault)
        config.write_text(
            f"store:\n  url: sqlite:///{db}\nagents:\n  helper:\n    model: openai:gpt-4o-mini\n"
        )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "OPENAI_API_KEY": "sk-test",
        "AGENTHOST_HOME": str(tmp_path / "home"),
        "COLUMNS": "80",
    }
    agenthost = Path(sys.executable).with_name("agenthost")
    done = subprocess.run(
        [str(agenthost), "serve", "-c", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and said in lines[0]
    assert done.stdout == ""
