"""docs/deploy.md's walk-through "From one process to a cluster", run as written
(examples/cluster/walkthrough.sh) against the Postgres, Redis and RabbitMQ on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthost.testing.fake_openai import FakeOpenAIServer

from ..contract.server_stores import drop, private_url, server_url
from .cluster_procs import broker_url
from .net import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_model() -> Iterator[str]:
    with FakeOpenAIServer.start_in_thread() as server:
        yield server.base_url


def test_from_one_process_to_a_cluster(tmp_path: Path, fake_model: str) -> None:
    for name in ("agenthost.yaml", "one_process.yaml"):
        shutil.copy(ROOT / "examples" / "cluster" / name, tmp_path / name)
    store, _ = private_url("postgres")
    prefix = f"w{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
        "AGENTHOST_HOME": str(tmp_path / "home"),
        "AGENTHOST_MODEL": "openai:gpt-4o-mini",
        "OPENAI_BASE_URL": fake_model,
        "OPENAI_API_KEY": "sk-test",
        "AGENTHOST_STORE_URL": store,
        "AGENTHOST_EVENTS_URL": f"{server_url('redis')}?key_prefix={prefix}:",
        "AGENTHOST_BROKER_URL": broker_url("amqp"),
        "AGENTHOST_QUEUE": prefix,
        "PORT_A": str(free_port()),
        "PORT_B": str(free_port()),
    }
    try:
        result = subprocess.run(
            ["bash", str(ROOT / "examples" / "cluster" / "walkthrough.sh")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=280,
        )
    finally:
        asyncio.run(drop(store))
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + logs[-3000:]
    out = result.stdout
    one_process, _, streams = out.partition("id: 1\n")
    assert "Done:" in one_process  # step 1: the agent answered in one process
    live, _, resumed = streams.partition("event: run.completed")
    assert "event: message.received" in live  # step 4: the whole run, through server B
    assert "event: run.completed" in resumed  # step 5: resumed after id 1, to the end
    assert "event: message.received" not in resumed
