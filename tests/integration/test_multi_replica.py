"""Two servers and two workers on 127.0.0.1 sharing Postgres and Redis (RabbitMQ broker).

Clients stream runs through either server (foreground runs, two of them queued on one
session from both servers at once, and background runs read through the other server); once
every run is under way, one server and one worker are SIGKILLed. The clients that lose their
connection resume on the surviving server with Last-Event-ID. Then:

- every run ends completed, failed or interrupted (its terminal event seen by its client
  and stored once);
- no event is lost or duplicated: each client saw every frame id once, and every stored
  event of its run once, in order;
- no session ever had two runs at once: in the store, the events of each run of a session
  are one contiguous block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.session import SessionKey

from .cluster_procs import (
    Cluster,
    Seen,
    broker_url,
    events_path,
    read_run,
    resume,
    two_servers_two_workers,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LONG = "tell me " + "a long story " * 15  # about 50 chunks of 0.05 s: a few seconds a run
TERMINAL = ("run.completed", "run.failed", "run.interrupted")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, str]]:
    async with two_servers_two_workers(
        tmp_path, broker_url("amqp"), worker=lambda: {"concurrency": 3}
    ) as cluster:
        yield cluster


class Client:
    """One run: started through `start`, followed until its end, resumed on `fallback`."""

    def __init__(self, http: httpx.AsyncClient, start: str, fallback: str) -> None:
        self.http = http
        self.start = start
        self.fallback = fallback
        self.seen = Seen()
        self.started = asyncio.Event()  # three frames seen (or the run ended)
        self.never_started = False

    async def foreground(self, session_id: str | None) -> None:
        path = (
            "/v1/apps/helper/runs"
            if session_id is None
            else (f"/v1/apps/helper/sessions/{session_id}/runs")
        )
        try:
            async with self.http.stream(
                "POST", self.start + path, json={"message": LONG, "busy_policy": "queue"}
            ) as response:
                assert response.status_code == 200, await response.aread()
                self.seen.run_id = response.headers["X-Run-Id"]
                self.seen.session_id = response.headers["X-Session-Id"]
                done = await self._read(response)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
            done = False
        if not self.seen.run_id:  # its server died before the run started: nothing stored
            self.never_started = True
            self.started.set()
            return
        await self._finish(done)

    async def background(self, reader: str) -> None:
        response = await self.http.post(
            self.start + "/v1/apps/helper/runs", json={"message": LONG, "background": True}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        self.seen.run_id, self.seen.session_id = body["run_id"], body["session_id"]
        try:
            async with self.http.stream("GET", reader + events_path(self.seen)) as stream:
                done = await self._read(stream)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
            done = False
        await self._finish(done)

    async def _read(self, response: httpx.Response) -> bool:
        try:
            return await read_run(self.http, response, self.seen, going=self.started)
        finally:
            self.started.set()

    async def _finish(self, done: bool) -> None:
        for _ in range(20):  # each resume goes on until the end or a broken connection
            if done:
                return
            done = await resume(self.http, self.fallback, self.seen)
        raise AssertionError(f"run {self.seen.run_id} never ended: {self.seen.ids[-5:]}")


async def test_two_servers_two_workers_one_of_each_killed(cluster: tuple[Cluster, str]) -> None:
    procs, store_url = cluster
    server_a, server_b, worker_1, _ = procs.procs
    a, b = server_a.url, server_b.url
    async with httpx.AsyncClient(timeout=httpx.Timeout(180.0)) as http:
        shared = (await http.post(a + "/v1/apps/helper/sessions", json={})).json()["id"]
        clients = [
            Client(http, a, b),  # foreground on the server to be killed
            Client(http, b, b),  # foreground on the survivor
            Client(http, a, b),  # these two queue on one session, from both servers
            Client(http, b, b),
            Client(http, a, b),  # background runs, read through the other server
            Client(http, b, b),
            Client(http, a, b),
        ]
        tasks = [
            asyncio.create_task(clients[0].foreground(None)),
            asyncio.create_task(clients[1].foreground(None)),
            asyncio.create_task(clients[2].foreground(shared)),
            asyncio.create_task(clients[3].foreground(shared)),
            asyncio.create_task(clients[4].background(b)),
            asyncio.create_task(clients[5].background(a)),
            asyncio.create_task(clients[6].background(a)),
        ]
        # every run under way except the one queued behind the other on the shared session
        runs_going = [c for i, c in enumerate(clients) if i not in (2, 3)]
        await asyncio.gather(*(c.started.wait() for c in runs_going))
        await asyncio.wait(
            [
                asyncio.create_task(clients[2].started.wait()),
                asyncio.create_task(clients[3].started.wait()),
            ],
            return_when=asyncio.FIRST_COMPLETED,
        )
        server_a.kill9()
        worker_1.kill9()
        await asyncio.gather(*tasks)

    runs = [c.seen for c in clients if not c.never_started]
    assert len(runs) >= 6
    async with open_session_store(store_url) as store:
        for seen in runs:
            check_run(seen)
            session = await store.get(SessionKey("cluster/helper", "local", seen.session_id))
            assert session is not None
            stored = [e for e in session.events if e.run_id == seen.run_id]
            assert [e.type for e in stored if e.type in TERMINAL] == [seen.terminal["type"]]
            assert [e["id"] for e in seen.events if not e.get("partial")] == [e.id for e in stored]
        for session_id in {seen.session_id for seen in runs}:
            session = await store.get(SessionKey("cluster/helper", "local", session_id))
            assert session is not None
            check_one_run_at_a_time([e.run_id for e in session.events])
    killed = [c.seen.terminal["type"] for c in clients if c.seen.terminal]
    assert "run.interrupted" in killed  # the killed processes' runs were closed, not lost


def check_run(seen: Seen) -> None:
    assert seen.terminal is not None and seen.terminal["type"] in TERMINAL, seen.ids[-3:]
    assert len(seen.ids) == len(set(seen.ids)), f"duplicate frames in {seen.run_id}"


def check_one_run_at_a_time(run_ids: list[Any]) -> None:
    blocks: list[str] = []
    for run_id in run_ids:
        if not blocks or blocks[-1] != run_id:
            blocks.append(run_id)
    assert len(blocks) == len(set(blocks)), f"runs interleaved in one session: {blocks}"
