"""examples/approval: the Python example (a pause answered by a new Runner) and the CLI
script, against the fake OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

from tests.example_runs import run_example, run_script


def test_the_python_example_pauses_and_goes_on(fake_env: dict[str, str], tmp_path: Path) -> None:
    out = run_example("approval/approval.py", fake_env, tmp_path)
    assert out.splitlines() == [
        'waiting: send_money {"to":"Bob","amount":500}',
        "run: paused",
        "tool: sent 50 EUR to Bob",
        "agent: I sent Bob 50 euros, as you changed it.",
    ]


def test_the_cli_script(fake_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **fake_env,
        "AGENTHOST_STORE": f"sqlite:///{tmp_path}/cli.db",
        "USER": "ann",
        "COLUMNS": "200",
    }
    result = run_script("approval/answer.sh", env)
    assert "approval needed · send_money" in result.stderr
    assert "send_money: approved by ann" in result.stderr
    assert "sent 50 EUR to Bob" in result.stderr  # the tool panel of the approved call
