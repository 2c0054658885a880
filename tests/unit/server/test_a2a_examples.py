"""examples/a2a/*: the curl tour, the a2a-sdk client and A2AAgent, against a real server (the
examples/server config over the fake model, with an API key)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthost.config import load_config
from agenthost.server import create_app
from agenthost.testing.fake_openai import FakeOpenAIServer

from .live import live_server

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "a2a"
KEY = "a2a-example-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("a2a-examples")
    env = {
        "AGENTHOST_MODEL": "openai:gpt-4o-mini",
        "OPENAI_API_KEY": "sk-test",
        "AGENTHOST_HOME": str(home),
    }
    with FakeOpenAIServer.start_in_thread() as fake:
        env["OPENAI_BASE_URL"] = fake.base_url
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            config = load_config(ROOT / "examples" / "server" / "agenthost.yaml")
            with live_server(create_app(config, api_keys=[f"{KEY}:demo"])) as url:
                yield {
                    **os.environ,
                    "AGENTHOST_URL": url,
                    "AGENTHOST_API_KEY": KEY,
                    "A2A_AGENT_URL": f"{url}/a2a/echo",
                    "A2A_API_KEY": KEY,
                }
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_curl_tour(server: dict[str, str]) -> None:
    out = _run(["bash", str(EXAMPLES / "curl.sh")], server)
    assert '"name":"assistant"' in out and '"protocolVersion":"0.3"' in out
    assert '"card_url":' in out
    assert '"kind":"task"' in out and '"state":"completed"' in out
    assert '"kind":"artifact-update"' in out and '"final":true' in out
    assert out.count('"contextId":"a2a-demo"') >= 2
    assert '"Echo: Hello!"' in out  # tasks/get of the echo agent's task


def test_the_sdk_client_example(server: dict[str, str]) -> None:
    out = _run([sys.executable, str(EXAMPLES / "sdk_client.py")], server)
    lines = out.splitlines()
    assert lines[0].startswith("agent: assistant - ")
    assert lines[1].startswith("Done:")  # the fake model called a demo tool, then answered
    assert lines[2] == "[TASK_STATE_COMPLETED]"
    assert lines[3] == "task: TASK_STATE_COMPLETED | " + lines[1]
    assert lines[4].startswith("Done:") and lines[5] == "[TASK_STATE_COMPLETED]"


def test_the_remote_agent_example(server: dict[str, str]) -> None:
    out = _run([sys.executable, str(EXAMPLES / "remote_agent.py")], server)
    lines = out.splitlines()
    assert lines[0] == "Echo: Hello!  [done]"
    assert lines[1] == "Echo: What did I just say?  [done]"
    assert lines[2].startswith("remote context: s_")
    assert lines[3] == "card: echo"
