"""examples/config_in_code.py runs against the fake OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

from agenthost.testing.fake_openai import FakeOpenAIServer, ToolCall, ToolCallsReply
from tests.example_runs import example_env, run_example


def test_config_in_code_example(tmp_path: Path) -> None:
    replies = [ToolCallsReply(calls=(ToolCall("get_weather", {"city": "Paris"}),)), "Sunny."]
    with FakeOpenAIServer.start_in_thread(replies) as fake:
        env = example_env(fake.base_url, tmp_path / "home")
        out = run_example("config_in_code.py", env, tmp_path)
    assert "[agent assistant on openai:gpt-4o-mini]" in out
    assert "[tool result: " in out and "Paris" in out
    assert "Sunny." in out and "[done: " in out
    assert (tmp_path / "config_in_code.db").exists()
    tools = [t["function"]["name"] for t in fake.server.bodies[0]["tools"]]
    assert tools == ["get_weather", "calculator"]
