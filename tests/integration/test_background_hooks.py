"""Background runs go through the same before/after-run hooks as foreground runs: the server
that takes the POST runs its before-run hooks before queueing (a refusal is the poster's 4xx
and nothing is queued), and the real Celery worker (`run_worker`, in a child process) that
drives the run calls its after-run hooks with the request and the terminal event, also for
the runs it refuses or finds left by a dead worker."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.config.build import agent_app
from agenthost.config.loader import load_config
from agenthost.config.schema import AgentHostConfig
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
from agenthost.engine.locks import lease_name
from agenthost.server.app import create_app
from agenthost.server.errors import Forbidden
from agenthost.server.runs import RunRequest
from agenthost.worker import Submitter

from ..contract.server_stores import private_url, server_url
from .cluster_procs import Cluster, _exe, broker_url, slow_model, stop_cluster, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHILD = Path(__file__).with_name("hooks_worker_child.py")


@asynccontextmanager
async def hooked_worker(
    tmp_path: Path, command: Callable[[Path], list[str]], *, config_lines: str = ""
) -> AsyncIterator[Cluster]:
    """A config for a cluster on Postgres, Redis run streams and a Redis broker (plus
    `config_lines` in its cluster section), and one real worker started by `command(config)`
    (with HOOKS_OUT, the file its after-run hooks write to, in its environment)."""
    store, _ = private_url("postgres")
    events = server_url("redis")
    with slow_model(0.0) as model:
        config, prefix = write_config(
            tmp_path,
            store=store,
            events=events,
            broker=broker_url("redis"),
            model_url=model.base_url,
        )
        with config.open("a") as config_file:
            config_file.write(config_lines)
        procs = Cluster(tmp_path, config, prefix)
        try:
            env = {"HOOKS_OUT": str(tmp_path / "after_run.jsonl")}
            proc = procs._spawn("worker", command(config), env)
            await procs._wait_for(proc, "agenthost worker ready")
            yield procs
        finally:
            await stop_cluster(procs, events, store)


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[tuple[Cluster, Path]]:
    """One real worker (concurrency 1) whose after-run hook writes to the returned file."""
    out = tmp_path / "after_run.jsonl"
    async with hooked_worker(
        tmp_path, lambda config: [sys.executable, str(CHILD), str(config), str(out)]
    ) as procs:
        yield procs, out


async def submit_all(config: AgentHostConfig, requests: list[RunRequest]) -> None:
    """Send the runs to the workers, in this order."""
    assert config.cluster.broker is not None
    submit = Submitter(
        config.cluster.broker,
        queue=config.cluster.queue,
        visibility_timeout=config.cluster.visibility_timeout,
    )
    try:
        for request in requests:
            await submit(request, app=config.app)
    finally:
        submit.close()


def _lines(out: Path) -> list[bytes]:
    return out.read_bytes().splitlines() if out.exists() else []


async def after_runs(out: Path, count: int) -> list[dict[str, Any]]:
    """The worker's after-run records, once there are `count` of them."""
    async with asyncio.timeout(120):
        while True:
            lines = _lines(out)
            if len(lines) >= count:
                return [orjson.loads(line) for line in lines]
            await asyncio.sleep(0.05)


async def test_background_runs_pass_the_before_and_after_run_hooks(
    worker: tuple[Cluster, Path],
) -> None:
    procs, out = worker
    before: list[RunRequest] = []
    after: list[tuple[RunRequest, Event | None]] = []

    def check(request: RunRequest) -> None:
        before.append(request)
        if "secret" in str(getattr(request.message, "text", "")):
            raise Forbidden("no secrets in background runs")

    app = create_app(
        load_config(procs.config),
        before_run=[check],
        after_run=[lambda request, terminal: after.append((request, terminal))],
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            url = "/v1/apps/helper/runs"
            refused = await client.post(url, json={"message": "a secret", "background": True})
            assert refused.status_code == 403, refused.text
            assert "no secrets" in refused.text
            posted = await client.post(url, json={"message": "hello there", "background": True})
            assert posted.status_code == 202, posted.text
            run_id = posted.json()["run_id"]
            foreground = await client.post(url, json={"message": "in the foreground"})
            assert foreground.status_code == 200, foreground.text
    # the worker took one run (concurrency 1, in order): the refused one was never queued
    (record,) = await after_runs(out, 1)
    assert record["run_id"] == run_id and record["text"] == "hello there"
    assert record["user_id"] == "local"
    assert record["terminal"]["type"] == "run.completed"
    assert record["terminal"]["run_id"] == run_id
    texts = [getattr(r.message, "text", None) for r in before]
    assert texts == ["a secret", "hello there", "in the foreground"]
    assert before[1].run_id == run_id
    # the server's after-run hooks saw its own run only: the worker's run ends on the worker
    assert [r.message.text for r, _ in after] == ["in the foreground"]  # type: ignore[union-attr]
    assert after[0][1] is not None and after[0][1].type == "run.completed"


async def test_the_worker_calls_its_after_run_hooks_for_runs_it_refuses_or_recovers(
    worker: tuple[Cluster, Path],
) -> None:
    """The real worker calls its after-run hooks once for every task, with the run's terminal
    event (its status): a task for an agent it does not have and one whose session is busy
    (busy policy `reject`) are refused (an unstored run.failed); a task whose run a dead
    worker had started is closed as interrupted; an ordinary run completes."""
    procs, out = worker
    config = load_config(procs.config)
    assert config.cluster.broker is not None and config.store.url is not None
    app = agent_app(config, "helper")  # the app of the agent's sessions
    refused = RunRequest(agent="nobody", user_id="u", session_id="s-1", message=Message.user("a"))
    busy = RunRequest(
        agent="helper",
        user_id="u",
        session_id="s-2",
        message=Message.user("b"),
        busy_policy="reject",
    )
    left = RunRequest(agent="helper", user_id="u", session_id="s-3", message=Message.user("c"))
    ok = RunRequest(agent="helper", user_id="u", session_id="s-4", message=Message.user("d"))
    store: Any = open_session_store(config.store.url)
    async with store:
        # another process holds the busy run's session
        held = await store.leases().acquire(
            lease_name(SessionKey(app, busy.user_id, busy.session_id)), "elsewhere", ttl=600.0
        )
        assert held is not None
        # the run a worker died in: its message stored, no terminal event
        session = await store.create(SessionKey(app, left.user_id, left.session_id))
        received = Event(
            id=new_id(),
            run_id=left.run_id,
            author="user",
            type="message.received",
            app=app,
            user_id=left.user_id,
            session_id=left.session_id,
            message=left.message,
        )
        await store.append(session, [received])
        try:
            await submit_all(config, [refused, busy, left, ok])  # concurrency 1: in this order
            records = await after_runs(out, 4)
        finally:
            await store.leases().release(held)
    assert [r["run_id"] for r in records] == [refused.run_id, busy.run_id, left.run_id, ok.run_id]
    ends = [r["terminal"] for r in records]
    assert [e["run_id"] for e in ends] == [r["run_id"] for r in records]
    assert [e["type"] for e in ends] == [
        "run.failed",
        "run.failed",
        "run.interrupted",
        "run.completed",
    ]
    assert [e["data"]["status"] for e in ends] == ["failed", "failed", "interrupted", "completed"]
    assert [e["error"]["code"] for e in ends[:2]] == ["agent_not_found", "session_busy"]


CLI_HOOKS = """
import json, os


def _write(hook, request, terminal):
    with open(os.environ["HOOKS_OUT"], "a") as out:
        line = {"hook": hook, "run_id": request.run_id, "status": terminal.data["status"]}
        out.write(json.dumps(line) + "\\n")


def record(request, terminal):
    _write("record", request, terminal)


async def configured(request, terminal):
    _write("configured", request, terminal)
"""


async def test_agenthost_worker_takes_hooks_from_the_command_line_and_the_config(
    tmp_path: Path,
) -> None:
    """`agenthost worker --after-run module:attribute` and `cluster.worker_after_run` (a
    module beside the config file): a real worker calls both when its run ends, the
    config's first."""
    (tmp_path / "cli_hooks_mod.py").write_text(CLI_HOOKS)

    def command(config: Path) -> list[str]:
        args = ["worker", "--config", str(config), "-n", "1", "--log-format", "text"]
        return [*_exe(), *args, "--after-run", "cli_hooks_mod:record"]

    configured = '  worker_after_run: ["cli_hooks_mod:configured"]\n'
    async with hooked_worker(tmp_path, command, config_lines=configured) as procs:
        request = RunRequest(
            agent="helper", user_id="u", session_id="s", message=Message.user("hi")
        )
        await submit_all(load_config(procs.config), [request])
        records = await after_runs(tmp_path / "after_run.jsonl", 2)
    assert records == [
        {"hook": "configured", "run_id": request.run_id, "status": "completed"},
        {"hook": "record", "run_id": request.run_id, "status": "completed"},
    ]
