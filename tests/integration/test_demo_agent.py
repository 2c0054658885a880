"""The demo (make demo / make chat): the default agent on the embedded model, no key and no
network, answers a question that needs one of its demo tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthost.config import AgentHostConfig, build_runtime
from agenthost.engine.runner import collect

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
