"""A client that hangs up mid-stream on a real uvicorn server (the fake model answers after
0.5 s): the run goes on and is stored whole, or is cancelled with `on_disconnect: cancel`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agenthost.server._http_limits import limited_protocol
from agenthost.testing.fake_openai import FakeOpenAIServer

from .live import KEY, live_agents

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module", params=["uvicorn", "agenthost serve"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn's own protocol (the stream learns of the hang-up from `receive()`), and
    `agenthost serve`'s (from the connection's `on_lost` hook: `_http_limits`)."""
    folder = tmp_path_factory.mktemp("live")
    server: dict[str, Any] = {}
    if request.param == "agenthost serve":
        server["http"] = limited_protocol(max_headers=100, max_header_bytes=32768)
    with (
        FakeOpenAIServer.start_in_thread(latency=0.5) as fake,
        live_agents(fake.base_url, folder, server=server) as base,
    ):
        yield base


def _hang_up_after_first_frame(url: str, body: dict[str, Any]) -> tuple[str, str]:
    with (
        httpx.Client(base_url=url, headers=AUTH, timeout=10) as client,
        client.stream("POST", "/v1/apps/plain/runs", json=body) as response,
    ):
        assert response.status_code == 200
        first = next(response.iter_lines())
        assert first == "id: 1"
        return response.headers["x-session-id"], response.headers["x-run-id"]


def _wait_for_end(url: str, session_id: str, run_id: str) -> dict[str, Any]:
    """Follow the run's events to its terminal frame (the stream ends with the run), then
    read its status."""
    base = f"{url}/v1/apps/plain/sessions/{session_id}/runs/{run_id}"
    with httpx.stream("GET", f"{base}/events", headers=AUTH, timeout=30) as events:
        lines = list(events.iter_lines())
    assert any(line in ("event: run.completed", "event: run.failed") for line in lines), lines
    return dict(httpx.get(base, headers=AUTH).json())


def _stored(url: str, session_id: str) -> list[str]:
    page = httpx.get(f"{url}/v1/apps/plain/sessions/{session_id}/events", headers=AUTH).json()
    return [e["type"] for e in page["events"]]


def test_the_run_goes_on_after_the_client_left(url: str) -> None:
    session_id, run_id = _hang_up_after_first_frame(url, {"message": "keep going"})
    assert _wait_for_end(url, session_id, run_id)["status"] == "completed"
    assert _stored(url, session_id) == ["message.received", "message.completed", "run.completed"]


def test_on_disconnect_cancel(url: str) -> None:
    body = {"message": "stop when I go", "on_disconnect": "cancel"}
    session_id, run_id = _hang_up_after_first_frame(url, body)
    assert _wait_for_end(url, session_id, run_id)["status"] == "cancelled"
    assert _stored(url, session_id) == ["message.received", "run.failed"]
