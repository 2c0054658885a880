"""examples/server/*: the curl tour and the OpenAI SDK example against a real server over the
fake model, and the embedding example in process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.config import load_config
from agenthost.server import create_app
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import client_for
from .live import live_server

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "server"
KEY = "example-key-0123456789"


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with FakeOpenAIServer.start_in_thread() as fake:
        env = {
            "AGENTHOST_MODEL": "openai:gpt-4o-mini",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-test",
            "AGENTHOST_HOME": str(tmp_path / "home"),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AGENTHOST_API_KEYS", raising=False)
        yield env


@pytest.fixture
def server(fake_model: dict[str, str]) -> Iterator[dict[str, str]]:
    config = load_config(EXAMPLES / "agenthost.yaml")
    with live_server(create_app(config, api_keys=[f"{KEY}:demo"])) as url:
        yield {**os.environ, "AGENTHOST_URL": url, "AGENTHOST_API_KEY": KEY}


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_curl_tour(server: dict[str, str]) -> None:
    out = _run(["bash", str(EXAMPLES / "curl.sh")], server)
    assert '"name":"assistant"' in out and '"name":"echo"' in out
    assert "event: message.received" in out and "event: run.completed" in out
    assert "event: tool.call.started" in out  # the fake model calls the first demo tool
    assert '"status":"completed"' in out and '"has_more":true' in out
    assert '"object":"chat.completion"' in out
    assert out.rstrip().endswith("deleted")


def test_the_openai_sdk_example(server: dict[str, str]) -> None:
    out = _run([sys.executable, str(EXAMPLES / "openai_sdk.py")], server)
    assert "models: ['assistant', 'echo']" in out
    assert "reply: Done:" in out
    assert "tokens]" in out
    assert "responses: Echo: Name a colour. | Echo: Another one?" in out


async def test_the_embedding_example(fake_model: dict[str, str]) -> None:
    spec = importlib.util.spec_from_file_location("embed_example", EXAMPLES / "embed.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.app
    async with app.router.lifespan_context(app), client_for(app) as client:
        hello = await client.get("/hello")
        assert hello.json() == {"hello": "local", "agents": ["assistant", "echo"]}
        r = await client.post("/v1/apps/echo/runs", json={"message": "hi", "stream": False})
        assert r.json()["output"] == "Echo: hi"
    assert module.finished == ["run.completed"]
