"""`save_artifact`: a work-directory file kept as an artifact of the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.sessions import MemorySessionStore
from agenthost.backends.tools.artifact_tools import save_artifact
from agenthost.backends.tools.files import write_file
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import ScriptedModel, tool_call


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    return tmp_path


async def run_steps(artifacts: MemoryArtifactStore | None, *steps: object) -> list[str]:
    model = ScriptedModel([*steps, "done"])  # type: ignore[list-item]
    agent = LLMAgent(model=model, tools=[write_file, save_artifact])
    runner = Runner(agent, store=MemorySessionStore(), app="t", artifacts=artifacts)
    events = await collect(runner.run("ann", "s1", "go"))
    return [e.message.parts[0].content for e in events if e.type == "tool.call.completed"]  # type: ignore[union-attr]


async def test_a_workdir_file_becomes_a_new_version_each_save(home: Path) -> None:
    store = MemoryArtifactStore()
    results = await run_steps(
        store,
        tool_call("write_file", '{"path": "out/report.md", "content": "# one"}'),
        tool_call("save_artifact", '{"path": "out/report.md"}'),
        tool_call("write_file", '{"path": "out/report.md", "content": "# two"}'),
        tool_call("save_artifact", '{"path": "out/report.md", "name": "report.md"}'),
    )
    assert results[1] == "saved out/report.md as artifact://out/report.md?version=0 (5 bytes)"
    assert results[3] == "saved out/report.md as artifact://report.md?version=0 (5 bytes)"
    saved = await store.load(app="t", user_id="ann", session_id="s1", name="out/report.md")
    assert saved is not None and saved.data == b"# one"
    assert saved.info.mime_type == "text/markdown"


async def test_refusals_reach_the_model(home: Path) -> None:
    (home / "secret.txt").write_text("outside")
    results = await run_steps(
        MemoryArtifactStore(),
        tool_call("save_artifact", '{"path": "../../../../secret.txt"}'),
        tool_call("save_artifact", '{"path": "missing.txt"}'),
    )
    assert results[0].startswith("error: save_artifact:") and ".." in results[0]
    assert "no file 'missing.txt'" in results[1]
    no_store = await run_steps(None, tool_call("save_artifact", '{"path": "x.txt"}'))
    assert no_store == ["error: save_artifact: this run has no artifact store"]
