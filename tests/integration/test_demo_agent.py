"""The demo (make demo / make chat): the default agent on the embedded model, no key and no
network, answers a question that needs one of its demo tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agenthost import AgentHostConfig, build_runtime, collect
from tests.example_runs import run_example

pytestmark = pytest.mark.integration


async def test_default_agent_calls_a_demo_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AGENTHOST_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    async with build_runtime(AgentHostConfig()) as rt:
        assert rt.model_id == "local:smollm2"
        events = await collect(rt.runner.run("demo", "s1", "What is the weather in Paris?"))
    tool = next(e for e in events if e.type == "tool.call.completed")
    assert tool.data is not None and tool.data["tool_name"] == "get_weather"
    assert "Paris" in tool.text
    assert events[-1].type == "run.completed"
    assert any(e.type == "message.completed" and e.text for e in events[-3:])


def test_readme_quickstart_calls_its_tool_on_the_embedded_model(tmp_path: Path) -> None:
    """The README's "In your own code" example, run as a user runs it, on local:smollm2: the
    Examples: lines of its tool's docstring make the small model call the tool."""
    pytest.importorskip("xllamacpp")
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTHOST_MODEL", "OPENAI_API_KEY")}
    env["AGENTHOST_HOME"] = str(tmp_path / "home")
    out = run_example("quickstart.py", env, tmp_path, timeout=280)
    assert "[tool result: It is 21°C and sunny in Paris.]" in out
    assert "[done:" in out
