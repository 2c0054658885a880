"""The composition and plugin examples run (against the fake OpenAI server where they need a
model)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthost.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with FakeOpenAIServer.start_in_thread() as server:
        yield {
            **os.environ,
            "AGENTHOST_MODEL": "openai:gpt-4o-mini",
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-test",
            "AGENTHOST_HOME": str(tmp_path / "home"),
        }


def run(path: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / path)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_composition_example(env: dict[str, str], tmp_path: Path) -> None:
    out = run("examples/composition.py", env, tmp_path)
    # the fake model echoes its last message: each chain step sees the previous answer
    assert "[pipeline] Echo: Echo: Honey bees" in out
    assert "  pipeline.researcher: Echo: Honey bees" in out
    assert "## optimist\nEcho: Remote work\n\n## pessimist\nEcho: Remote work" in out
    assert "[editing] Echo: Echo: Echo: A long text" in out  # three rounds, never "DONE"
    assert "[desk] Echo: Where is my invoice?" in out  # answered by billing after a transfer
    assert "[boss] Done: Echo: fake" in out  # the helper's answer came back as a tool result


@pytest.mark.integration
def test_plugin_example(env: dict[str, str], tmp_path: Path) -> None:
    out = run("examples/plugins/run_echo_plugin.py", env, tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("echo: hello (turn 1, pid ")
    assert lines[2].startswith("2 + 3 = 5.0 (turn 2, pid ")
    assert lines[1] == lines[3] == "[run.completed]"
