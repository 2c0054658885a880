"""`agenthost memory add|ls|search|rm` on a session the CLI ran, per user."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agenthost.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_memory_commands(fake_env: dict[str, str], tmp_path: Path) -> None:
    env = fake_env
    run = _cli(env, tmp_path, "run", "--user", "alice", "my locker code is 4711")
    assert run.returncode == 0, run.stderr
    session = re.search(r"session (s_\w+)", run.stdout + run.stderr)
    assert session is not None
    sid = session.group(1)
    added = _cli(env, tmp_path, "memory", "add", sid, "--user", "alice")
    assert added.returncode == 0, added.stderr
    assert f"remembered agenthost/assistant/{sid} (1 chunks)" in " ".join(added.stdout.split())
    assert _cli(env, tmp_path, "memory", "add", sid, "--user", "bob").returncode == 2
    listed = _cli(env, tmp_path, "memory", "ls", "--user", "alice").stdout
    assert f"agenthost/assistant/{sid}" in listed
    assert (
        "nothing remembered for bob" in _cli(env, tmp_path, "memory", "ls", "--user", "bob").stdout
    )
    found = _cli(env, tmp_path, "memory", "search", "locker code", "--user", "alice").stdout
    assert "user: my locker code is 4711" in found
    assert (
        "nothing matches" in _cli(env, tmp_path, "memory", "search", "locker", "-u", "bob").stdout
    )
    gone = _cli(env, tmp_path, "memory", "rm", f"agenthost/assistant/{sid}", "--user", "alice")
    assert gone.returncode == 0 and "forgot" in gone.stdout
