"""Background runs on real Celery workers (`agenthost worker`), with RabbitMQ and with a Redis
broker: posted to one server and answered at once, run by a worker, streamed and resumed
through another server (Redis Streams, Last-Event-ID), cancelled through either, and a worker
SIGKILLed mid-run leaves its run interrupted, never half-written, with no event lost or
duplicated."""

from __future__ import annotations

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
from .net import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LONG = "tell me " + "a long story " * 12  # the fake model echoes it in 4-character chunks


@pytest.fixture(params=["amqp", "redis"])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with two_servers_two_workers(
        tmp_path, broker_url(request.param), worker=lambda: {"metrics_port": free_port()}
    ) as (procs, _):
        yield procs


async def post_background(client: httpx.AsyncClient, base: str, text: str) -> Seen:
    response = await client.post(
        base + "/v1/apps/helper/runs", json={"message": text, "background": True}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["events_url"].endswith(f"/runs/{body['run_id']}/events")
    return Seen(run_id=body["run_id"], session_id=body["session_id"])


async def stored(store_url: str, seen: Seen) -> list[Any]:
    async with open_session_store(store_url) as store:
        session = await store.get(SessionKey("cluster/helper", "local", seen.session_id))
    assert session is not None
    return [e for e in session.events if e.run_id == seen.run_id]


def check_exactly_once(seen: Seen, events: list[Any]) -> None:
    """No frame twice, and every stored event of the run seen once, in order."""
    assert len(seen.ids) == len(set(seen.ids)), seen.ids
    stored_ids = [e.id for e in events]
    seen_stored = [e["id"] for e in seen.events if not e.get("partial")]
    assert seen_stored == stored_ids


def store_url_of(procs: Cluster) -> str:
    text = procs.config.read_text()
    return text.split('store: "', 1)[1].split('"', 1)[0]


async def test_background_runs_stream_resume_cancel_and_survive_a_killed_worker(
    cluster: Cluster,
) -> None:
    a, b = cluster.procs[0].url, cluster.procs[1].url
    store = store_url_of(cluster)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as client:
        # 1. posted to A, streamed through B from the start, then resumed through A midway
        first = await post_background(client, a, "hello from the background")
        async with client.stream("GET", b + events_path(first)) as response:
            assert response.status_code == 200
            assert not await read_run(client, response, first, stop_after=3)
        assert await resume(client, a, first)
        assert first.terminal is not None and first.terminal["type"] == "run.completed"
        check_exactly_once(first, await stored(store, first))
        status = await client.get(a + events_path(first).removesuffix("/events"))
        assert status.json()["status"] == "completed"

        # 2. cancelled through B while a worker runs it
        second = await post_background(client, a, LONG)
        async with client.stream("GET", a + events_path(second)) as response:
            assert not await read_run(client, response, second, stop_after=3)
        cancel = await client.post(b + events_path(second).removesuffix("/events") + "/cancel")
        assert cancel.status_code == 202, cancel.text
        assert await resume(client, b, second)
        assert second.terminal is not None and second.terminal["error"]["code"] == "cancelled"
        check_exactly_once(second, await stored(store, second))

        # 3. the worker running it is SIGKILLed mid-run: the run ends interrupted
        third = await post_background(client, a, LONG)
        async with client.stream("GET", b + events_path(third)) as response:
            assert not await read_run(client, response, third, stop_after=4)
        owner = third.events[0]["data"]["owner"]["pid"]  # on the run's message.received
        worker = next(p for p in cluster.procs[2:] if p.popen.pid == owner)
        worker.kill9()
        assert await resume(client, b, third)
        assert third.terminal is not None and third.terminal["type"] == "run.interrupted"
        events = await stored(store, third)
        assert [e.type for e in events][-1] == "run.interrupted"
        assert [e.type for e in events].count("run.interrupted") == 1
        check_exactly_once(third, events)

        # 4. the workers left still run background runs
        fourth = await post_background(client, b, "still here?")
        assert await resume(client, a, fourth)
        assert fourth.terminal is not None and fourth.terminal["type"] == "run.completed"

        # 5. the worker left counts its runs on the server's metric names (its own /metrics)
        alive = next(p for p in cluster.procs[2:] if p.popen.poll() is None)
        scraped = (await client.get(alive.url + "/metrics")).text
        assert 'agenthost_runs_total{agent="helper",status="completed"}' in scraped


async def test_background_needs_a_broker(tmp_path: Path) -> None:
    """A server without cluster settings refuses `background: true` with a 400 naming it."""
    from agenthost.config.schema import AgentHostConfig
    from agenthost.server.app import create_app

    app = create_app(AgentHostConfig())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.post(
                "/v1/apps/assistant/runs", json={"message": "hi", "background": True}
            )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "background"
