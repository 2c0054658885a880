"""The MCP examples of docs/tools.md run: tools in code, the config file, and an MCP client
calling the agents of a live server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agenthost.config import build_runtime, load_config
from agenthost.engine.runner import collect, final_text
from agenthost.server.mcp import PATH
from agenthost.testing.fake_openai import FakeOpenAIServer
from tests.example_runs import run_example
from tests.integration.test_mcp_client import everything_http  # noqa: F401 - a fixture
from tests.unit.server.live import KEY, live_agents

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mcp"


def run(script: str, env: dict[str, str]) -> str:
    return run_example(f"mcp/{script}", env, timeout=120)


def test_tools_in_code(fake_env: dict[str, str]) -> None:
    out = run("mcp_tools.py", fake_env)
    assert "['time__get_current_time', 'time__convert_time']" in out
    assert '"timezone": "Asia/Tokyo"' in out
    assert "Done:" in out  # the agent called the MCP tool, then answered


async def test_the_config_file(
    fake_env: dict[str, str],
    everything_http: str,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AGENTHOST_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "PATH"):
        monkeypatch.setenv(name, fake_env[name])
    config = load_config(EXAMPLES / "agenthost.yaml", env={"EVERYTHING_URL": everything_http})
    async with build_runtime(config, agent="kitchen") as rt:
        names = [t.spec.name for t in rt.agent.tools]  # type: ignore[attr-defined]
        assert names[0] == "calculator"
        assert "everything__echo" in names and "everything__get-tiny-image" in names
        assert "everything__get-env" not in names  # denied
        assert "everything__trigger-long-running-operation" not in names  # not allowed
    async with build_runtime(config) as rt:
        events = await collect(rt.runner.run("me", None, "What time is it?"))
    called = [e.data for e in events if e.type == "tool.call.completed"]
    assert [d["tool_name"] for d in called if d] == ["time__get_current_time"]  # the first
    assert final_text(events).startswith("Done:")


def test_an_mcp_client_calls_the_served_agents(tmp_path: Path) -> None:
    with FakeOpenAIServer.start_in_thread() as fake, live_agents(fake.base_url, tmp_path) as url:
        out = run("call_agents.py", {**os.environ, "AGENTHOST_URL": url, "AGENTHOST_API_KEY": KEY})
    assert out.splitlines() == ["agents: helper, plain", "Echo: hello", "Echo: again"]


def test_the_cursor_config_points_at_the_mcp_endpoint() -> None:
    server = json.loads((EXAMPLES / "cursor_mcp.json").read_text())["mcpServers"]["agenthost"]
    assert server["url"].endswith(PATH)
    assert server["headers"]["Authorization"].startswith("Bearer ")
