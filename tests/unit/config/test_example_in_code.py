"""examples/config_in_code.py runs against the fake OpenAI-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agenthost.testing.fake_openai import FakeOpenAIServer, ToolCall, ToolCallsReply

EXAMPLE = Path(__file__).parents[3] / "examples" / "config_in_code.py"


def test_config_in_code_example(tmp_path: Path) -> None:
    replies = [ToolCallsReply(calls=(ToolCall("get_weather", {"city": "Paris"}),)), "Sunny."]
    with FakeOpenAIServer.start_in_thread(replies) as fake:
        env = {
            **os.environ,
            "AGENTHOST_MODEL": "openai:gpt-4o-mini",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-test",
            "AGENTHOST_HOME": str(tmp_path / "home"),
        }
        done = subprocess.run(
            [sys.executable, str(EXAMPLE)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert "[agent assistant on openai:gpt-4o-mini]" in done.stdout
    assert "[tool result: " in done.stdout and "Paris" in done.stdout
    assert "Sunny." in done.stdout and "[done: " in done.stdout
    assert (tmp_path / "config_in_code.db").exists()
    tools = [t["function"]["name"] for t in fake.server.bodies[0]["tools"]]
    assert tools == ["get_weather", "calculator"]
