"""A plugin agent declared in agenthost.yaml runs through the CLI like any other agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.integration


def test_agenthost_run_with_a_plugin_agent(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AGENTHOST_HOME": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "agenthost"),
            "run",
            "-c",
            "examples/plugins/agenthost.yaml",
            "stressed",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "desserts" in result.stdout
