"""build_runtime: from config to a Runner over the fake OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agenthost.config import (
    AgentConfig,
    AgentHostConfig,
    ModelConfig,
    ProviderConfig,
    StoreConfig,
    auto_model,
    build_runtime,
    open_sessions,
    parse_config,
)
from agenthost.core.errors import ConfigError
from agenthost.engine.runner import collect, final_text
from agenthost.testing.fake_openai import ErrorReply, FakeOpenAIServer, Reply, TextReply

TOOLS = '''
def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"
'''


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path / "home"))
    (tmp_path / "build_tools_mod.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("AGENTHOST_MODEL", "OPENAI_API_KEY", "AGENTHOST_STORE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def config_for(srv: FakeOpenAIServer, **extra: Any) -> AgentHostConfig:
    data: dict[str, Any] = {
        "app": "t",
        "store": "memory://",
        "providers": {"fake": {"base_url": srv.base_url}},
        "models": {
            "fast": {
                "model": "fake:a",
                "fallbacks": ["fake:b"],
                "settings": {"temperature": 0.3},
            }
        },
        "agents": {
            "helper": {
                "model": "fast",
                "instructions": "be brief",
                "tools": ["build_tools_mod:lookup"],
            },
            "plain": {"model": "fake:plain"},
        },
        "default_agent": "helper",
    }
    data.update(extra)
    return parse_config(data, env={})


async def test_a_turn_with_a_tool_through_the_built_runner() -> None:
    async with FakeOpenAIServer() as srv:
        async with build_runtime(config_for(srv)) as rt:
            assert rt.agent_name == "helper" and rt.model_id == "fake:a"
            assert [m.name for m in rt.models] == ["fake:a", "fake:b"]
            events = await collect(rt.runner.run("u", None, "find it"))
            assert final_text(events) == "Done: found fake"
            assert events[-1].type == "run.completed"
            sessions = await rt.runner.list_sessions("u")
            assert [s.id for s in sessions] == [events[0].session_id]
        first = srv.bodies[0]
        assert first["model"] == "a" and first["temperature"] == 0.3
        assert first["messages"][0] == {"role": "system", "content": "be brief"}
        assert [t["function"]["name"] for t in first["tools"]] == ["lookup"]


async def test_fallback_model_from_the_alias() -> None:
    replies: list[Reply] = [ErrorReply(429, retry_after=120), TextReply("from b")]
    async with FakeOpenAIServer(replies) as srv, build_runtime(config_for(srv)) as rt:
        events = await collect(rt.runner.run("u", None, "hi"))
    assert final_text(events) == "from b"
    assert [b["model"] for b in srv.bodies] == ["a", "b"]


async def test_model_override_and_agent_choice() -> None:
    async with FakeOpenAIServer() as srv:
        config = config_for(srv)
        async with build_runtime(config, agent="plain", model_override="fake:other") as rt:
            assert rt.agent_name == "plain" and rt.model_id == "fake:other"
            await collect(rt.runner.run("u", None, "hi"))
        async with build_runtime(config, agent="plain", model_override="fast") as rt:
            assert [m.name for m in rt.models] == ["fake:a", "fake:b"]
    assert srv.bodies[0]["model"] == "other"


async def test_the_default_store_lives_under_home_and_open_sessions_reads_it(home: Path) -> None:
    async with FakeOpenAIServer() as srv:
        config = config_for(srv, store={"url": None})  # the default SQLite file under home
        async with build_runtime(config) as rt:
            events = await collect(rt.runner.run("u", "s1", "hi"))
            assert events[-1].type == "run.completed"
    assert (home / "agenthost.db").is_file()
    async with open_sessions(config) as runner:
        assert [s.id for s in await runner.list_sessions("u")] == ["s1"]
        session = await runner.get_session("u", "s1")
        assert [e.type for e in session.events][-1] == "run.completed"
        await runner.delete_session("u", "s1")
        assert await runner.list_sessions("u") == []


async def test_python_api_config_is_checked_like_a_file() -> None:
    config = AgentHostConfig(agents={"a": AgentConfig(model="nope")})
    with pytest.raises(ConfigError, match=r"agents\.a\.model: 'nope' is neither a model alias"):
        async with build_runtime(config):
            pass


async def test_python_api_config_runs() -> None:
    async with FakeOpenAIServer(["hello from code"]) as srv:
        config = AgentHostConfig(
            store=StoreConfig(url="memory://"),
            providers={"fake": ProviderConfig(base_url=srv.base_url)},
            models={"m": ModelConfig(model="fake:x")},
            agents={"coder": AgentConfig(model="m", instructions="hi")},
        )
        async with build_runtime(config) as rt:
            assert final_text(await collect(rt.runner.run("u", None, "hi"))) == ("hello from code")


async def test_build_errors_name_where_they_come_from() -> None:
    async with FakeOpenAIServer() as srv:
        config = config_for(srv)
        with pytest.raises(ConfigError, match=r"Unknown agent 'helpr'; did you mean 'helper'\?"):
            async with build_runtime(config, agent="helpr"):
                pass
        with pytest.raises(ConfigError, match=r"--model \(model_override\): 'gpt' is neither"):
            async with build_runtime(config, model_override="gpt"):
                pass
        needs_key = parse_config(
            {"store": "memory://", "agents": {"a": {"model": "openai:gpt-4o-mini"}}}, env={}
        )
        with pytest.raises(ConfigError) as info:
            async with build_runtime(needs_key):
                pass
        assert info.value.message.startswith("agents.a.model: model 'openai:gpt-4o-mini': ")
        assert "OPENAI_API_KEY" in info.value.message
        broken = config_for(srv, store="nosuch://x")
        with pytest.raises(ConfigError, match=r"store\.url: Unknown store scheme 'nosuch'"):
            async with build_runtime(broken):
                pass
        missing_tool = config_for(
            srv,
            agents={"a": {"model": "fake:x", "tools": ["build_tools_mod:nope"]}},
            default_agent="a",
        )
        with pytest.raises(ConfigError, match=r"agents.a.tools\[0\]: .* no attribute 'nope'"):
            async with build_runtime(missing_tool):
                pass


def test_auto_model() -> None:
    assert auto_model({}) == "local:smollm2"
    assert auto_model({"OPENAI_API_KEY": "sk"}) == "openai:gpt-4o-mini"
    assert auto_model({"OPENAI_API_KEY": "sk", "AGENTHOST_MODEL": "ollama:qwen"}) == ("ollama:qwen")


async def test_an_agent_without_a_model_takes_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeOpenAIServer(["env model"]) as srv:
        monkeypatch.setenv("AGENTHOST_MODEL", "fake:from-env")
        config = config_for(srv, agents={"a": {}}, default_agent=None)
        async with build_runtime(config) as rt:
            assert rt.model_id == "fake:from-env"
            assert final_text(await collect(rt.runner.run("u", None, "hi"))) == "env model"
