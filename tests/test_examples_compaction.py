"""examples/compaction: the Python example (30 turns, compacted, offline) and the YAML config
with the CLI script, against the fake OpenAI-compatible server."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agenthost.config.build import build_agent
from agenthost.config.loader import load_config
from tests.example_runs import ROOT, run_example, run_script


def test_the_python_example_compacts_and_keeps_every_event(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_BASE_URL"}
    out = run_example("compaction/long_chat.py", env, tmp_path).splitlines()
    summaries = [line for line in out if line.startswith("turn ")]
    assert len(summaries) >= 3
    for line in summaries:
        found = re.search(r"summarised events 1-(\d+) \((\d+) -> (\d+) tokens\)", line)
        assert found is not None, line
        assert int(found[3]) <= 600 < int(found[2])  # over the budget before, under after
    assert out[-1].endswith("all 30 questions still readable")


def test_the_yaml_builds_an_agent_with_its_summariser(
    fake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**fake_env, "SUMMARY_MODEL": "openai:gpt-4.1-mini", "COMPACTION_BUDGET": "300"}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.setenv(name, env[name])
    config = load_config(ROOT / "examples" / "compaction" / "agenthost.yaml", env=env)
    agent, models = build_agent(config, "assistant")
    compactor = agent.compaction  # type: ignore[attr-defined]
    assert compactor.config.budget_tokens == 300 and compactor.config.keep_turns == 4
    assert compactor.model.name == "openai:gpt-4.1-mini"
    assert compactor.counter.exact and compactor.counter.name == "o200k_base"
    granted = [m.model_id for m in agent.resources().models]  # type: ignore[attr-defined]
    assert granted == ["openai:gpt-4o-mini", "openai:gpt-4.1-mini"]
    assert sorted(m.name for m in models) == granted[::-1]


def test_the_cli_shows_compaction_events(fake_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **fake_env,
        "AGENTHOST_STORE": f"sqlite:///{tmp_path}/cli.db",
        "COMPACTION_BUDGET": "250",
        "USER": "ann",
        "COLUMNS": "200",
    }
    result = run_script("compaction/chat.sh", env, timeout=300)
    shown = result.stdout + result.stderr
    assert re.search(r"compacted: events 1-\d+ summarised \(\d+ -> \d+ tokens\)", shown), shown
    assert "Question 1: tell me about topic 1." in shown  # the covered events are still shown
