"""The banner of `agenthost serve` names the model in use and how to switch to another."""

from __future__ import annotations

from types import SimpleNamespace

from agenthost.server.banner import agent_models, startup_banner


def banner(models: dict[str, str | None]) -> str:
    return startup_banner(
        host="127.0.0.1", port=8000, agents=list(models), auth=False, models=models
    )


def test_the_embedded_model_is_named_with_the_way_to_switch() -> None:
    text = banner({"assistant": "local:smollm2"})
    assert "  model:    local:smollm2  (embedded" in text
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTHOST_MODEL=openai:MODEL"):
        assert variable in text


def test_a_real_model_is_named_without_the_switch_hint() -> None:
    text = banner({"assistant": "openai:gpt-4o-mini"})
    assert "  model:    openai:gpt-4o-mini\n" in text
    assert "OPENAI_BASE_URL" not in text


def test_each_agent_is_named_when_their_models_differ() -> None:
    text = banner({"a": "openai:gpt-4o-mini", "b": "deepseek:deepseek-chat", "dify": None})
    assert "  model:    openai:gpt-4o-mini (a)\n" in text
    assert "  model:    deepseek:deepseek-chat (b)\n" in text
    assert "(dify)" not in text


def test_agent_models_reads_each_runners_first_model() -> None:
    llm = SimpleNamespace(agent=SimpleNamespace(models=[SimpleNamespace(name="local:smollm2")]))
    remote = SimpleNamespace(agent=SimpleNamespace())
    assert agent_models({"assistant": llm, "dify": remote}) == {
        "assistant": "local:smollm2",
        "dify": None,
    }
