"""Switching an agent from LLMAgent to Dify (or Coze, Bailian) is a config change only."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthost.backends.agents import A2AAgent, BailianAgent, CozeAgent, DifyAgent
from agenthost.config import build_runtime, load_config
from agenthost.core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agents"


@pytest.mark.parametrize(
    ("example", "env", "cls"),
    [
        ("dify.yaml", {"DIFY_API_KEY": "app-x"}, DifyAgent),
        ("coze.yaml", {"COZE_API_KEY": "pat-x", "COZE_BOT_ID": "b1"}, CozeAgent),
        ("bailian.yaml", {"DASHSCOPE_API_KEY": "sk-x", "BAILIAN_APP_ID": "app1"}, BailianAgent),
        (
            "a2a.yaml",
            {"REMOTE_AGENT_URL": "http://127.0.0.1:9/a2a/x/", "REMOTE_AGENT_KEY": "k"},
            A2AAgent,
        ),
    ],
)
async def test_example_configs_build_their_kind(
    example: str,
    env: dict[str, str],
    cls: type,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = load_config(EXAMPLES / example)
    async with build_runtime(config) as rt:
        assert isinstance(rt.agent, cls)
        assert rt.runner.agent is rt.agent
        assert "remote" in rt.model_id


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "agenthost.yaml"
    path.write_text(body)
    return path


async def test_a_setting_of_another_kind_is_named(tmp_path: Path) -> None:
    # refused when the file loads (it was when the agent was built), with the file and line
    path = _config(tmp_path, "agents:\n  a: {kind: dify, api_key: k, bot_id: x}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.startswith(
        f"{path}:2: agents.a.bot_id: not a setting of kind 'dify'; its settings are "
        f"description, pricing, budgets, api_key, api_key_env,"
    )


async def test_api_key_env_must_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    config = load_config(
        _config(tmp_path, "agents:\n  a: {kind: dify, api_key_env: NO_SUCH_KEY}\n")
    )
    with pytest.raises(ConfigError, match="NO_SUCH_KEY is not set"):
        async with build_runtime(config):
            pass


async def test_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kind"):
        load_config(_config(tmp_path, "agents:\n  a: {kind: dfy}\n"))


async def test_cli_and_server_use_the_same_app_per_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agenthost.config import build_runtimes
    from agenthost.config.build import agent_app, open_sessions

    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    config = load_config(
        _config(
            tmp_path,
            "app: shop\nstore: memory://\n"
            "agents:\n  a: {kind: dify, api_key: k}\n  b: {kind: dify, api_key: k}\n",
        )
    )
    async with build_runtime(config, agent="b") as one, build_runtimes(config) as every:
        assert one.runner.app == every["b"].runner.app == agent_app(config, "b") == "shop/b"
    async with open_sessions(config, agent="b") as sessions:
        assert sessions.app == "shop/b"
