"""The channel examples of the README and docs/channels.md run (fake model on 127.0.0.1)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.example_runs import ROOT, run_example

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples" / "channels"


@pytest.fixture
def env(fake_env: dict[str, str]) -> dict[str, str]:
    return {**fake_env, "PYTHONPATH": str(ROOT / "src")}


def test_three_line_program_runs_until_a_signal(env: dict[str, str], tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, str(EXAMPLES / "three_lines.py")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()  # the first tick's reply
            assert line == "[cron] Echo: Say hello to the world.\n", proc.stderr.read()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_cron_to_webhook_example(env: dict[str, str], tmp_path: Path) -> None:
    out = run_example("channels/cron_to_webhook.py", env, tmp_path, timeout=120)
    assert out.splitlines() == ["status: Echo: One status line."] * 3


def test_example_config_builds_its_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenthost.channels._build import build_clients
    from agenthost.config import load_config

    monkeypatch.setenv("WEBHOOK_SECRET", "s1")
    monkeypatch.setenv("TEAM_HOOK_SECRET", "s2")
    config = load_config(EXAMPLES / "agenthost.yaml")
    assert config.channels is not None
    inputs, outputs = build_clients(config.channels)
    assert [(c.name, c.platform) for c in inputs] == [
        ("morning", "cron"),
        ("web", "webhook"),
        ("terminal", "stdin"),
    ]
    assert [(c.name, c.platform) for c in outputs] == [("team", "webhook"), ("terminal", "stdout")]
