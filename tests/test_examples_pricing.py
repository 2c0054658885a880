"""examples/pricing: the budgets example, then `agenthost usage` on the runs it made
(table, CSV, JSON), as real subprocesses over the fake model."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_budgets_then_usage(fake_env: dict[str, str]) -> None:
    out = run([sys.executable, "examples/pricing/budgets.py"], fake_env)
    lines = out.splitlines()
    assert lines[0] == "Where is order 42? -> cost $0.0101"  # tokens at the agent's prices + 0.01
    assert lines[2].startswith("refused (budget_exceeded): The session 'chat-1' has spent $0.0202")
    assert "budgets.session.cost_total" in lines[2]
    assert [line.split()[:3] for line in lines[3:6]] == [
        ["support", "ann", "chat-1"],
        ["support", "ann", "chat-1"],
        ["support", "ann", "chat-2"],
    ]
    usage = run(["bash", "examples/pricing/usage.sh"], fake_env).splitlines()
    assert "total" in "\n".join(usage) and "$0.03" in "\n".join(usage)
    start = usage.index("agent,runs,failed,input_tokens,output_tokens,requests,cost")
    rows = list(csv.DictReader(io.StringIO("\n".join(usage[start : start + 3]))))
    assert [(r["agent"], r["runs"]) for r in rows] == [("sales", "1"), ("support", "3")]
    assert float(rows[1]["cost"]) == 0.03025
    report = json.loads(usage[-1])
    assert [(r["key"], r["runs"]) for r in report["rows"]] == [("ann", 3), ("bob", 1)]


def test_a_bad_group_is_a_usage_error(fake_env: dict[str, str]) -> None:
    done = subprocess.run(
        ["agenthost", "usage", "--config", "examples/pricing/agenthost.yaml", "--by", "week"],
        env=fake_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--by" in done.stderr and "week" in done.stderr
