"""Tool refs: 'module:function', 'module:*', bundled short names, and errors naming the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agenthost.config.tools import load_tool_ref, load_tools
from agenthost.core.errors import ConfigError

MODULE = '''
from agenthost.engine.function_tool import function_tool

__all__ = ["search", "helper_value", "Thing"]

def search(query: str) -> str:
    """Search things."""
    return query

@function_tool(name="shout")
def _shout(text: str) -> str:
    return text.upper()

helper_value = 42

class Thing:
    pass

GROUP = [search, _shout]
'''

WITH_TOOLS = """
def a(x: int) -> int:
    return x

def b(y: str) -> str:
    return y

TOOLS = [a, b]
"""


@pytest.fixture(autouse=True)
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg_tools_a.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "cfg_tools_b.py").write_text(textwrap.dedent(WITH_TOOLS))
    (tmp_path / "cfg_tools_broken.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "cfg_tools_plain.py").write_text("def f(x: int) -> int:\n    return x\n")
    (tmp_path / "cfg_tools_none.py").write_text("__all__ = ['X']\n\nclass X:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def names(refs: list[str]) -> list[str]:
    return [t.spec.name for t in load_tools(refs)]


def test_function_list_and_star() -> None:
    assert names(["cfg_tools_a:search"]) == ["search"]
    assert names(["cfg_tools_a:GROUP"]) == ["search", "shout"]
    assert names(["cfg_tools_b:*"]) == ["a", "b"]  # TOOLS
    assert names(["cfg_tools_a:*"]) == ["search"]  # __all__ routines only


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nope_module_xyz:f", "tools[0]: no module 'nope_module_xyz' (from 'nope_module_xyz:f')"),
        (
            "cfg_tools_a:serch",
            "has no attribute 'serch' (from 'cfg_tools_a:serch'); did you mean 'search'?",
        ),
        ("cfg_tools_a:helper_value", "Not a tool: 42"),
        ("cfg_tools_broken:f", "importing 'cfg_tools_broken' for 'cfg_tools_broken:f' failed"),
        ("justaname", "'justaname' is not a tool ref"),
    ],
)
def test_errors_name_the_field(ref: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_tools([ref])
    assert expected in info.value.message
    assert info.value.message.startswith("tools[0]: ")


def test_bundled_demo_tools() -> None:
    assert names(["demo:*"]) == ["get_weather", "calculator", "get_time", "search_notes"]
    assert names(["demo:get_time"]) == ["get_time"]
    assert names(["agenthost.backends.tools.demo:get_weather"]) == ["get_weather"]


def test_a_module_without_tools_or_all() -> None:
    with pytest.raises(ConfigError, match="define TOOLS"):
        load_tool_ref("cfg_tools_plain:*")
    with pytest.raises(ConfigError, match="has no tools"):
        load_tool_ref("cfg_tools_none:*")  # __all__ names no functions


def test_two_tools_with_one_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_tools(["cfg_tools_a:search", "cfg_tools_a:GROUP"], where="agents.x.tools")
    assert info.value.message.startswith("agents.x.tools[1]: ")
    assert "second tool named 'search'" in info.value.message
