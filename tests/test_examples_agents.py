"""The composition and plugin examples run (against the fake OpenAI server where they need a
model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.example_runs import run_example


def test_composition_example(fake_env: dict[str, str], tmp_path: Path) -> None:
    out = run_example("composition.py", fake_env, tmp_path)
    # the fake model echoes its last message: each chain step sees the previous answer
    assert "[pipeline] Echo: Echo: Honey bees" in out
    assert "  pipeline.researcher: Echo: Honey bees" in out
    assert "## optimist\nEcho: Remote work\n\n## pessimist\nEcho: Remote work" in out
    assert "[editing] Echo: Echo: Echo: A long text" in out  # three rounds, never "DONE"
    assert "[desk] Echo: Where is my invoice?" in out  # answered by billing after a transfer
    assert "[boss] Done: Echo: fake" in out  # the helper's answer came back as a tool result


@pytest.mark.integration
def test_plugin_example(fake_env: dict[str, str], tmp_path: Path) -> None:
    out = run_example("plugins/run_echo_plugin.py", fake_env, tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("echo: hello (turn 1, pid ")
    assert lines[2].startswith("2 + 3 = 5.0 (turn 2, pid ")
    assert lines[1] == lines[3] == "[run.completed]"
