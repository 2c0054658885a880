"""One import path: every public name comes from `agenthost` (test doubles from
`agenthost.testing`), lazily; and one call runs a message to its final text."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agenthost
import agenthost.testing
from agenthost import (
    LLMAgent,
    Message,
    ModelResponse,
    RunFailedError,
    Runner,
    Usage,
    ask,
    collect,
    open_session_store,
)
from agenthost.core.errors import ModelHTTPError, RunError
from agenthost.testing import FakeOpenAIServer, ScriptedModel, tool_call


@pytest.mark.parametrize("name", agenthost.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(agenthost, name) is not None
    assert name in dir(agenthost)


@pytest.mark.parametrize("name", agenthost.testing.__all__)
def test_every_testing_name_resolves(name: str) -> None:
    assert getattr(agenthost.testing, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Runnr'"):
        agenthost.Runnr  # noqa: B018


def test_import_agenthost_loads_no_layer() -> None:
    """`import agenthost` stays cheap: no engine, backend, server or third-party HTTP code."""
    code = (
        "import sys, agenthost; "
        "print(sorted(m for m in sys.modules if m.startswith(('agenthost.', 'aiohttp', "
        "'fastapi', 'msgspec'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


async def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city name
    """
    return f"sunny in {city}"


async def test_runner_ask_returns_the_final_text_after_a_tool_round() -> None:
    model = ScriptedModel([tool_call("get_weather", '{"city": "Oslo"}'), "Sunny in Oslo."])
    agent = LLMAgent(model=model, tools=[get_weather])
    async with open_session_store("memory://") as store, Runner(agent, store=store) as runner:
        assert await runner.ask("alice", "s1", "Weather in Oslo?") == "Sunny in Oslo."
        session = await runner.get_session("alice", "s1")
    assert [e.type for e in session.events][-1] == "run.completed"
    model.assert_consumed()


async def test_runner_ask_raises_the_runs_error_code_when_the_run_fails() -> None:
    failure = ModelHTTPError(status_code=400, model="test:scripted", body="bad request")
    agent = LLMAgent(model=ScriptedModel([failure]))
    async with open_session_store("memory://") as store, Runner(agent, store=store) as runner:
        with pytest.raises(RunFailedError) as caught:
            await runner.ask("alice", "s1", "hello")
    error = caught.value
    assert isinstance(error, RunError)
    assert error.code == failure.code
    assert error.run_id.startswith("run")
    assert f"({failure.code})" in str(error)


async def test_ask_wraps_a_model_in_an_agent_and_keeps_nothing() -> None:
    model = ScriptedModel(["Bonjour !"])
    assert await ask(model, "Say hello in French.") == "Bonjour !"
    model.assert_consumed()


async def test_ask_runs_an_agent_with_run_options() -> None:
    seen: list[str] = []

    async def remember(text: str) -> str:
        """Remember a text.

        Args:
            text: what to remember
        """
        seen.append(text)
        return "ok"

    model = ScriptedModel([tool_call("remember", '{"text": "x"}'), "Done."])
    agent = LLMAgent(model=model, tools=[remember])
    assert await ask(agent, "remember x", timeout=30) == "Done."
    assert seen == ["x"]


def test_all_lists_exactly_the_lazy_names() -> None:
    assert sorted(agenthost.__all__) == sorted(agenthost._EXPORTS)
    assert sorted(agenthost.testing.__all__) == sorted(agenthost.testing._EXPORTS)


async def test_ask_twice_with_one_agent_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ask opens and closes the agent's HTTP model; the agent can be asked again."""
    async with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        agent = LLMAgent(model="openai:gpt-4o-mini")
        assert await ask(agent, "one") == "Echo: one"
        assert await ask(agent, "two") == "Echo: two"
        assert await ask("openai:gpt-4o-mini", "three") == "Echo: three"
    assert server.request_count == 3


async def test_a_reply_cut_at_its_cap_is_marked_on_run_completed() -> None:
    """What the README promises for the embedded model: finish_reason "length" reaches
    run.completed (LocalModel sets it when a reply hits its cap or is stopped in a loop)."""
    cut = ModelResponse(
        message=Message.assistant("cut he"), usage=Usage(), model="x", finish_reason="length"
    )
    async with (
        open_session_store("memory://") as store,
        Runner(LLMAgent(model=ScriptedModel([cut])), store=store) as runner,
    ):
        events = await collect(runner.run("u", "s", "hi"))
    assert events[-1].type == "run.completed"
    assert events[-1].data is not None and events[-1].data["finish_reason"] == "length"


def test_the_tool_round_limit_and_its_error_share_a_name() -> None:
    """`max_tool_rounds` raises `agenthost.MaxToolRoundsExceeded`; the first name still works."""
    assert agenthost.MaxToolRoundsExceeded is agenthost.MaxTurnsExceeded
    assert agenthost.MaxToolRoundsExceeded.code == "max_tool_rounds_exceeded"
    assert "MaxToolRoundsExceeded" in agenthost.__all__


def test_a_search_provider_is_written_from_agenthost_alone() -> None:
    """docs/tools.md: any object with an async `search(query, max_results)` returning
    `SearchResult` items is a provider; `SearchResult` is imported from `agenthost`."""
    assert agenthost.SearchResult(title="t", url="https://x", snippet="s").title == "t"
