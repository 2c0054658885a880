"""The artifact and multimodal examples against a real server on 127.0.0.1 (and the
in-process artifacts example)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.sessions import MemorySessionStore
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.server import create_app
from agenthost.testing.scripted import FunctionModel

from .live import KEY, live_server
from .test_artifacts_api import describe

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def server() -> Iterator[dict[str, str]]:
    agent = LLMAgent(model=FunctionModel(describe, name="test:eyes"), name="assistant")
    runner = Runner(
        agent, store=MemorySessionStore(), app="x/assistant", artifacts=MemoryArtifactStore()
    )
    with live_server(create_app({"assistant": runner}, api_keys=[f"{KEY}:demo"])) as url:
        yield {**os.environ, "AGENTHOST_URL": url, "AGENTHOST_API_KEY": KEY}


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_openai_image_example(server: dict[str, str]) -> None:
    out = _run([sys.executable, str(EXAMPLES / "multimodal" / "openai_image.py")], server)
    assert out == ("reply: ImagePart image/png 32 bytes artifact://uploads/image-1.png?version=0\n")


def test_the_artifacts_curl_tour(server: dict[str, str]) -> None:
    lines = _run(["bash", str(EXAMPLES / "artifacts" / "curl.sh")], server).splitlines()
    run = orjson.loads(lines[0])
    assert run["status"] == "completed"
    assert run["output"].endswith("artifact://uploads/image-1.png?version=0")
    assert '"ref":"artifact://notes/plan.md?version=1"' in lines[1]
    listed = orjson.loads(lines[2])["artifacts"]
    assert [(a["name"], a["version"]) for a in listed] == [
        ("notes/plan.md", 1),
        ("uploads/image-1.png", 0),
    ]
    assert lines[3] == "# plan v1"
    assert [v["version"] for v in orjson.loads(lines[4])["versions"]] == [0, 1]
    assert lines[5] == "deleted"


def test_the_artifacts_agent_example(tmp_path: Path) -> None:
    script = EXAMPLES / "artifacts" / "artifacts_agent.py"
    out = _run([sys.executable, str(script)], dict(os.environ), cwd=tmp_path)
    assert "saved notes.txt version 1" in out
    assert "version 0 was: buy milk" in out
    assert "is saved as artifact://tool-outputs/server_log.txt?version=0]" in out
    assert "artifact uploads/image-1.png v0 image/png 24 bytes" in out
    assert list((tmp_path / "artifacts").rglob("*.bin"))  # kept on disk
