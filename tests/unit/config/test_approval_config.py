"""`approval:` of an llm agent: the tools whose calls wait for a person's answer."""

from __future__ import annotations

from typing import Any

import pytest

from agenthost.config import parse_config
from agenthost.config.build import build_agent
from agenthost.core.errors import ConfigError
from agenthost.engine.llm_agent import LLMAgent

DEMO = "agenthost.backends.tools.demo"


def config(agent: dict[str, Any]) -> Any:
    providers = {"fake": {"base_url": "http://127.0.0.1:1/v1"}}
    return parse_config(
        {"providers": providers, "agents": {"a": {"model": "fake:x", **agent}}}, env={}
    )


def test_approval_names_tools_by_name_or_pattern() -> None:
    cfg = config({"tools": [f"{DEMO}:*"], "approval": ["get_weather", "calc*"]})
    agent, _ = build_agent(cfg, "a")
    assert isinstance(agent, LLMAgent)
    assert agent.approval == {"get_weather", "calculator"}


def test_an_old_config_without_approval_loads() -> None:
    agent, _ = build_agent(config({"tools": [f"{DEMO}:get_weather"]}), "a")
    assert isinstance(agent, LLMAgent) and agent.approval == frozenset()


def test_a_pattern_matching_no_tool_names_the_agent() -> None:
    cfg = config({"tools": [f"{DEMO}:get_weather"], "approval": ["get_wether"]})
    with pytest.raises(ConfigError, match=r"agents.a: approval\[0\]: 'get_wether' matches none"):
        build_agent(cfg, "a")


def test_other_kinds_do_not_take_approval() -> None:
    with pytest.raises(ConfigError, match="approval"):
        parse_config({"agents": {"d": {"kind": "dify", "api_key": "k", "approval": ["x"]}}}, env={})
