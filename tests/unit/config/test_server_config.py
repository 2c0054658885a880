"""The `server:` section and `build_runtimes` (every agent, one store, an app per agent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthost.config import agent_app, build_runtimes, parse_config
from agenthost.core.errors import ConfigError
from agenthost.engine.runner import collect, final_text
from agenthost.testing.fake_openai import FakeOpenAIServer


def test_the_server_section() -> None:
    config = parse_config(
        {"server": {"port": 9000, "api_keys": ["k:alice"], "on_disconnect": "cancel"}}, env={}
    )
    assert config.server.port == 9000 and config.server.on_disconnect == "cancel"
    assert config.server.host == "127.0.0.1" and config.server.max_body_bytes == 1_048_576
    assert "k:alice" not in repr(config.server)
    with pytest.raises(ConfigError, match=r"server\.on_disconnect: invalid value 'stop'"):
        parse_config({"server": {"on_disconnect": "stop"}}, env={})
    with pytest.raises(ConfigError, match=r"server\.prot: unknown field; did you mean 'port'"):
        parse_config({"server": {"prot": 1}}, env={})
    with pytest.raises(ConfigError, match=r"server\.port"):
        parse_config({"server": {"port": 70000}}, env={})


async def test_build_runtimes_opens_every_agent_over_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    async with FakeOpenAIServer() as fake:
        config = parse_config(
            {
                "app": "t",
                "store": "memory://",
                "providers": {"fake": {"base_url": fake.base_url}},
                "agents": {"a": {"model": "fake:m"}, "b": {"model": "fake:m"}},
            },
            env={},
        )
        async with build_runtimes(config) as runtimes:
            assert list(runtimes) == ["a", "b"]
            a, b = runtimes["a"].runner, runtimes["b"].runner
            assert a.store is b.store
            assert (a.app, b.app) == (agent_app(config, "a"), "t/b") == ("t/a", "t/b")
            events = await collect(a.run("u", "s1", "hello"))
            assert final_text(events) == "Echo: hello"
            assert await b.list_sessions("u") == []  # agents do not share sessions
        with pytest.raises(ConfigError, match="Unknown agent 'c'"):
            async with build_runtimes(config, agents=["a", "c"]):
                pass
