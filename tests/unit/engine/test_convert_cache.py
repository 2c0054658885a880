"""engine.convert's tool-message cache: the same message for the same result, bounded."""

from __future__ import annotations

import pytest

from agenthost.engine import convert
from agenthost.ports.protocol import ToolCallCompleted


def result(i: int, text: str = "ok") -> ToolCallCompleted:
    return ToolCallCompleted(tool_call_id=f"c{i}", tool_name="t", result=text)


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    convert._TOOL_MESSAGES.clear()
    convert._tool_messages_bytes = 0


def test_same_result_same_message() -> None:
    first = result(1)
    assert convert.tool_message(first) is convert.tool_message(first)
    assert convert.tool_message(result(1)) is not convert.tool_message(first)


def test_bounded_by_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "_TOOL_MESSAGES_MAX", 10)
    kept = [result(i) for i in range(25)]
    for item in kept:
        convert.tool_message(item)
    assert 0 < len(convert._TOOL_MESSAGES) <= 10


def test_bounded_by_the_bytes_of_the_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few huge tool results must not stay pinned just because the count is low."""
    monkeypatch.setattr(convert, "_TOOL_MESSAGES_MAX_BYTES", 1_000_000)
    kept = [result(i, "x" * 100_000) for i in range(20)]
    for item in kept:
        convert.tool_message(item)
    assert 0 < len(convert._TOOL_MESSAGES) < 20
    assert convert._tool_messages_bytes <= 1_000_000
    total = sum(convert._tool_message_cost(r) for r, _ in convert._TOOL_MESSAGES.values())
    assert total == convert._tool_messages_bytes
