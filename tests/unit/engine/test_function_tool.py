from __future__ import annotations

from typing import Literal

import pytest

from agenthost.core.errors import ConfigError, ToolError
from agenthost.engine.function_tool import function_tool


def search(query: str, limit: int = 5, mode: Literal["fast", "deep"] = "fast") -> list[str]:
    """Search the notes.

    Longer explanation that is not part of the description.

    Args:
        query: what to look for,
            over two lines.
        limit: how many hits.
    """
    return [query] * limit


def test_schema_comes_from_hints_and_docstring() -> None:
    tool = function_tool(search)
    spec = tool.spec
    assert spec.name == "search"
    assert spec.description == "Search the notes."
    props = spec.parameters["properties"]
    assert props["query"] == {"type": "string", "description": "what to look for, over two lines."}
    assert props["limit"]["type"] == "integer" and props["limit"]["default"] == 5
    assert sorted(props["mode"]["enum"]) == ["deep", "fast"]
    assert spec.parameters["required"] == ["query"]


async def test_arguments_are_validated_and_converted() -> None:
    tool = function_tool(search, run_in_thread=False)
    assert await tool.call({"query": "x", "limit": "2"}) == ["x", "x"]
    with pytest.raises(ToolError, match="query"):
        await tool.call({})
    with pytest.raises(ToolError, match="mode"):
        await tool.call({"query": "x", "mode": "slow"})


def test_decorator_form_and_rename() -> None:
    @function_tool(name="lookup")
    async def find(q: str) -> str:
        return q

    assert find.spec.name == "lookup"


class Opaque:
    pass


def test_unusable_hint_is_a_config_error() -> None:
    def bad(x: Opaque) -> None:
        return None

    with pytest.raises(ConfigError, match="cannot be described"):
        function_tool(bad)


def test_examples_section_is_kept_in_the_description() -> None:
    async def get_weather(city: str) -> str:
        """Get the weather.

        Args:
            city: the city

        Examples:
            Will it snow in Oslo? -> {"city": "Oslo"}
            Is it sunny in Rome? -> {"city": "Rome"}
        """
        return city

    spec = function_tool(get_weather).spec
    assert spec.description == (
        'Get the weather.\n\nExamples:\nWill it snow in Oslo? -> {"city": "Oslo"}\n'
        'Is it sunny in Rome? -> {"city": "Rome"}'
    )
    assert spec.parameters["properties"]["city"]["description"] == "the city"
