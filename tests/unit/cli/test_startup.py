"""`agenthost --help` stays light: Typer and Rich only, no backends, YAML, SQLite or HTTP."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from agenthost.cli.app import app
try:
    app(["--help"])
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

HEAVY = (
    "yaml",
    "sqlite3",
    "_sqlite3",
    "httpx",
    "httpx2",
    "aiohttp",
    "xllamacpp",
    "asyncio",
    "msgspec",
    "orjson",
    "opentelemetry",
    "agenthost.config",
    "agenthost.engine",
    "agenthost.backends",
    "agenthost.core",
)


def test_help_imports_only_typer_and_rich() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert "Usage" in done.stdout and "chat" in done.stdout
    loaded = [m for m in report["modules"] if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}]
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("agenthost.cli", ["--help"], "sessions"),
        # `python -m agenthost` is the `agenthost` command (a virtualenv whose bin/ is not on PATH)
        ("agenthost", ["version"], "agenthost "),
    ],
)
def test_the_console_script_runs(module: str, args: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and expected in done.stdout, done.stderr
