"""Model calls end: a server that accepts the connection and then says nothing fails the run
with model_timeout (tiny configured timeouts here; the defaults are in docs/defaults.md); and
a self-hosted server is one line of code (examples/self_hosted_model.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agenthost.backends.models import OpenAICompatibleModel, infer_model
from agenthost.backends.models.providers import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
    Provider,
    resolve_provider,
)
from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import ConfigError
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.model_chain import RetryPolicy
from agenthost.engine.runner import Runner, collect
from agenthost.testing.fake_openai import FakeOpenAIServer, HangReply

ROOT = Path(__file__).resolve().parents[4]


def test_the_defaults_end_a_call() -> None:
    provider = resolve_provider("vllm", env={})
    assert (provider.connect_timeout, provider.idle_timeout, provider.timeout) == (
        DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_IDLE_TIMEOUT,
        DEFAULT_TIMEOUT,
    )
    assert all(t is not None and t <= 300 for t in (provider.idle_timeout, provider.timeout))
    with pytest.raises(ConfigError, match="idle_timeout must be > 0"):
        Provider("x", base_url="http://x.test/v1", idle_timeout=0)


@pytest.mark.parametrize("stream", [True, False])
async def test_a_model_that_hangs_ends_the_run_with_a_clear_code(stream: bool) -> None:
    async with FakeOpenAIServer([HangReply(), HangReply()]) as server:
        # the whole-call timeout bounds a non-streamed call, the idle timeout a streamed one
        provider = Provider("fake", base_url=server.base_url, idle_timeout=0.2, timeout=0.3)
        model = OpenAICompatibleModel("m", provider=provider)
        agent = LLMAgent(model=model, stream=stream, retry=RetryPolicy(retries=0))
        async with (
            model,
            open_session_store("memory://") as store,
            Runner(agent, store=store) as runner,
        ):
            events = await collect(runner.run("u", "s", "hi"))
    end = events[-1]
    assert end.type == "run.failed" and end.error is not None
    assert (end.error.code, end.error.retryable) == ("model_timeout", True)
    assert f"within {0.2 if stream else 0.3}s" in end.error.message


def test_a_self_hosted_server_in_one_line() -> None:
    model = OpenAICompatibleModel("qwen2.5", base_url="http://127.0.0.1:8000/v1")
    assert model.name == "openai-compatible:qwen2.5"
    assert "Authorization" not in model.provider.headers
    keyed = OpenAICompatibleModel("m", base_url="http://h.test/v1", api_key="sk-1")
    assert keyed.provider.headers["Authorization"] == "Bearer sk-1"
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatibleModel("m")
    inferred = infer_model("mybox:qwen2.5", base_url="http://box.test/v1")
    assert isinstance(inferred, OpenAICompatibleModel)
    assert inferred.provider.base_url == "http://box.test/v1"


def test_the_self_hosted_example_runs() -> None:
    with FakeOpenAIServer.start_in_thread() as server:
        env = {**os.environ, "SELF_HOSTED_URL": server.base_url}
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "self_hosted_model.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        bodies = server.server.bodies
    assert result.returncode == 0, result.stderr
    assert "[done:" in result.stdout
    assert [b["model"] for b in bodies] == ["qwen2.5"]
