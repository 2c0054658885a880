"""`mcp_servers:` and an agent's MCP tools in agenthost.yaml (the servers themselves are
exercised in tests/integration/test_mcp_client.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agenthost.config import parse_config
from agenthost.config.build import build_agent
from agenthost.config.mcp import servers_used
from agenthost.core.errors import ConfigError


def config(servers: dict[str, Any], agents: dict[str, Any]) -> Any:
    providers = {"fake": {"base_url": "http://127.0.0.1:1/v1"}}
    return parse_config({"providers": providers, "mcp_servers": servers, "agents": agents}, env={})


SERVERS = {"time": {"command": "mcp-server-time"}, "web": {"url": "http://127.0.0.1:1/mcp"}}


def test_the_servers_an_agent_uses_include_its_parts() -> None:
    cfg = config(
        SERVERS,
        {
            "a": {"model": "fake:x", "tools": ["mcp:time"]},
            "b": {"model": "fake:x", "mcp": {"web": {"allow": ["echo"]}}},
            "c": {"model": "fake:x"},
            "both": {"kind": "chain", "agents": ["a", "b"]},
        },
    )
    assert servers_used(cfg, "a") == ["time"]
    assert servers_used(cfg, "b") == ["web"]
    assert servers_used(cfg, "c") == []
    assert servers_used(cfg, "both") == ["time", "web"]


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"command": "x", "url": "http://h/mcp"}, r"mcp_servers.s: give either command"),
        ({}, r"mcp_servers.s: give either command"),
        ({"url": "ftp://h/mcp"}, r"mcp_servers.s.url: 'ftp://h/mcp' must start with http"),
        ({"command": "x", "timeout": 0}, r"timeout"),
        ({"command": "x", "comand": "y"}, r"comand"),
    ],
)
def test_a_bad_server_entry_names_its_field(server: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config({"s": server}, {"a": {"model": "fake:x"}})


def test_a_bad_server_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"mcp_servers.a__b: 'a__b' is not a usable"):
        config({"a__b": {"command": "x"}}, {"a": {"model": "fake:x"}})


def test_an_unknown_server_in_mcp_filters_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"agents.a.mcp.tme: no MCP server 'tme'.*'time'"):
        config(SERVERS, {"a": {"model": "fake:x", "mcp": {"tme": {}}}})


def test_a_plugin_checks_its_mcp_refs_too() -> None:
    with pytest.raises(ConfigError, match=r"agents.p.tools\[0\]: no MCP server 'nope'"):
        config(SERVERS, {"p": {"kind": "plugin", "command": ["x"], "tools": ["mcp:nope"]}})


def test_building_without_the_opened_servers_says_where_they_come_from() -> None:
    cfg = config(SERVERS, {"a": {"model": "fake:x", "tools": ["mcp:time"]}})
    with pytest.raises(ConfigError, match=r"agents.a: the MCP server 'time' is not running"):
        build_agent(cfg, "a")


def test_secrets_stay_out_of_the_repr() -> None:
    cfg = config(
        {"web": {"url": "http://h/mcp", "headers": {"Authorization": "Bearer s3cret"}}},
        {"a": {"model": "fake:x"}},
    )
    assert "s3cret" not in repr(cfg.mcp_servers["web"])
