"""Running the examples as users run them: a Python example or a shell script in a subprocess,
with the environment of the `fake_env` fixture (tests/conftest.py): the fake OpenAI server's
URL and key, a private AGENTHOST_HOME, and this virtualenv's `agenthost` on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BIN = str(Path(sys.executable).parent)


def example_env(base_url: str, home: Path) -> dict[str, str]:
    """This process's environment, with the model `openai:gpt-4o-mini` at `base_url`, the home
    directory `home`, and the `agenthost` command of this interpreter's virtualenv first on
    PATH, as the examples' shell scripts call it (`make test` runs .venv/bin/pytest without
    activating the venv)."""
    return {
        **os.environ,
        "AGENTHOST_MODEL": "openai:gpt-4o-mini",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "sk-test",
        "AGENTHOST_HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def run_example(
    name: str, env: dict[str, str], cwd: Path | None = None, *args: str, timeout: float = 60
) -> str:
    """Run examples/`name` with this interpreter; its stdout (it must exit 0)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def run_script(
    name: str, env: dict[str, str], cwd: Path | None = None, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the shell script examples/`name` with bash (it must exit 0)."""
    result = subprocess.run(
        ["bash", str(EXAMPLES / name), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result
