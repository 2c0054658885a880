"""docs/agents.md, "Knowledge, memory and artifacts": the example runs as users run it, a
pydantic-ai agent against the fake model, which calls the first tool (load_memory)."""

from __future__ import annotations

from pathlib import Path

from tests.example_runs import run_example


def test_a_framework_agent_recalls_its_own_users_memories(
    fake_env: dict[str, str], tmp_path: Path
) -> None:
    out = run_example("adapters/host_tools.py", {**fake_env, "MODEL": "fake-model"}, tmp_path)
    alice, bob = out[: out.index("[bob]")], out[out.index("[bob]") :]
    assert "[alice] cited: default/note-" in alice and "[alice] load_memory:" in alice
    assert "Alice rides a red gravel bike." in alice and "Bob" not in alice
    assert "[bob] cited: default/note-" in bob and "[bob] load_memory:" in bob
    assert "Bob is looking for a child seat." in bob and "Alice" not in bob
