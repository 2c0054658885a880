"""MCP tool names as the model APIs accept them, and the allow/deny filters."""

from __future__ import annotations

import re

import pytest

from agenthost.backends.tools.mcp import McpServer, namespaced, selected, server_name_problem
from agenthost.core.errors import ConfigError

OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_names_are_namespaced_by_server() -> None:
    assert namespaced("time", "get_current_time") == "time__get_current_time"
    assert namespaced("every", "get-tiny-image") == "every__get-tiny-image"


def test_characters_the_apis_refuse_are_replaced() -> None:
    name = namespaced("files", "read.file/v2 now")
    assert name == "files__read_file_v2_now"
    assert OPENAI_NAME.match(name)


def test_long_names_are_cut_and_stay_distinct() -> None:
    a = namespaced("server", "x" * 80 + "a")
    b = namespaced("server", "x" * 80 + "b")
    assert len(a) == len(b) == 64
    assert a != b
    assert OPENAI_NAME.match(a) and OPENAI_NAME.match(b)


@pytest.mark.parametrize("name", ["time", "my-files", "a_b", "S3"])
def test_usable_server_names(name: str) -> None:
    assert server_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "a__b", "has space", "dot.ted", "x" * 31, "_lead"])
def test_unusable_server_names_say_why(name: str) -> None:
    problem = server_name_problem(name)
    assert problem is not None and repr(name) in problem


def test_filters_allow_then_deny_with_patterns() -> None:
    assert selected("get_time", None, None)
    assert selected("get_time", ["get_*"], None)
    assert not selected("set_time", ["get_*"], None)
    assert not selected("get_time", None, ["get_time"])
    assert not selected("get_secret", ["get_*"], ["*secret*"])
    assert not selected("anything", [], None)  # an empty allow list allows nothing


def test_a_server_needs_exactly_one_of_command_and_url() -> None:
    with pytest.raises(ConfigError, match="either command"):
        McpServer("x")
    with pytest.raises(ConfigError, match="either command"):
        McpServer("x", command="a", url="http://127.0.0.1/mcp")
    with pytest.raises(ConfigError, match="not a usable MCP server name"):
        McpServer("a__b", command="a")


async def test_a_server_not_opened_says_so() -> None:
    from agenthost.core.errors import ToolError

    server = McpServer("idle", command="true")
    assert server.tools() == []
    with pytest.raises(ToolError, match="'idle' is not open"):
        await server.call("t", {})
