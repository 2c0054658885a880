"""A process without the HTTP app (a worker) serves the server's metrics, by the same names,
on a port of its own."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import ConfigError
from agenthost.core.usage import Usage
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.server.metrics import Metrics, metrics_port, serve_metrics
from agenthost.testing.scripted import ScriptedModel


@dataclass(frozen=True)
class Job:  # what a worker knows of the run it executes
    agent: str
    run_id: str


async def test_a_worker_serves_the_run_metrics_on_its_own_port() -> None:
    metrics = Metrics()
    usage = Usage(input_tokens=11, output_tokens=4, requests=1, cost=0.5)
    async with open_session_store("memory://") as store:
        runner = Runner(LLMAgent(model=ScriptedModel(["hi"], usage=usage)), store=store)
        async for event in runner.run("u", "s", "hello", run_id="run-1"):
            metrics.observe(Job("assistant", "run-1"), event)
    server = serve_metrics(metrics, 0, host="127.0.0.1")
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.close()
    assert response.status_code == 200
    text = response.text
    assert 'agenthost_runs_total{agent="assistant",status="completed"} 1.0' in text
    assert 'agenthost_tokens_total{agent="assistant",direction="input"} 11.0' in text
    assert 'agenthost_cost_usd_total{agent="assistant"} 0.5' in text
    assert 'agenthost_active_runs{agent="assistant"} 0.0' in text
    assert "agenthost_run_duration_seconds_count" in text
    assert "process_cpu_seconds_total" in text


def test_the_metrics_port_comes_from_the_environment() -> None:
    assert metrics_port({}) is None
    assert metrics_port({"AGENTHOST_METRICS_PORT": ""}) is None
    assert metrics_port({"AGENTHOST_METRICS_PORT": "9100"}) == 9100
    with pytest.raises(ConfigError, match="AGENTHOST_METRICS_PORT='nine' is not a port"):
        metrics_port({"AGENTHOST_METRICS_PORT": "nine"})
