"""BailianAgent against a fake DashScope speaking the real wire format, through the Runner."""

from __future__ import annotations

from typing import Any

import pytest

from agenthost.backends.agents import BailianAgent
from agenthost.core.errors import ConfigError
from agenthost.core.usage import Usage
from agenthost.engine.runner import Runner, collect
from agenthost.ports.sessions import SessionStore

from .conftest import check_streamed_hello, terminal
from .fake_platform import FakePlatform, Reply, dashscope_frame

APP = "/api/v1/apps/app1/completion"


def chunk(seq: int, text: str, finish: str = "null", session: str = "s1", out: int = 1) -> bytes:
    return dashscope_frame(
        seq,
        {
            "output": {"session_id": session, "finish_reason": finish, "text": text},
            "usage": {
                "models": [{"input_tokens": 8, "output_tokens": out, "model_id": "qwen-max"}]
            },
            "request_id": "r1",
        },
    )


HELLO = Reply(frames=[chunk(1, "Hel"), chunk(2, "lo", finish="stop", out=2)])


def agent(fake: FakePlatform, **kw: Any) -> BailianAgent:
    options: dict[str, Any] = {
        "base_url": fake.base_url + "/api/v1",
        "api_key": "sk-test",
        "app_id": "app1",
    }
    return BailianAgent(**{**options, **kw})


async def test_a_streamed_reply_with_usage(fake: FakePlatform, store: SessionStore) -> None:
    fake.add(APP, HELLO)
    bailian = agent(fake, biz_params={"user_prompt_params": {"city": "Hangzhou"}})
    async with Runner(bailian, store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
        session = await runner.get_session("u1", "s1")
    # the last chunk's totals
    check_streamed_hello(events, Usage(input_tokens=8, output_tokens=2, requests=1))
    assert session.state["bailian.session_id"] == "s1"
    (call,) = fake.calls(APP)
    assert call.headers["Authorization"] == "Bearer sk-test"
    assert call.headers["X-DashScope-SSE"] == "enable"
    assert call.body == {
        "input": {"prompt": "hi", "biz_params": {"user_prompt_params": {"city": "Hangzhou"}}},
        "parameters": {"incremental_output": True},
    }


async def test_usage_sums_the_models(fake: FakePlatform, store: SessionStore) -> None:
    last = dashscope_frame(
        1,
        {
            "output": {"session_id": "s1", "finish_reason": "stop", "text": "ok"},
            "usage": {
                "models": [
                    {"input_tokens": 8, "output_tokens": 2, "model_id": "qwen-max"},
                    {"input_tokens": 5, "output_tokens": 1, "model_id": "qwen-plus"},
                ]
            },
            "request_id": "r1",
        },
    )
    fake.add(APP, Reply(frames=[last]))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    assert terminal(events).usage == Usage(input_tokens=13, output_tokens=3, requests=2)


def test_region_selects_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    cn = BailianAgent(api_key="k", app_id="a")
    assert cn.base_url == "https://dashscope.aliyuncs.com/api/v1"
    intl = BailianAgent(api_key="k", app_id="a", region="intl")
    assert intl.base_url == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert intl._url == "https://dashscope-intl.aliyuncs.com/api/v1/apps/a/completion"
    assert BailianAgent(api_key="k", app_id="a", region="cn").base_url == cn.base_url
    custom = BailianAgent(api_key="k", app_id="a", region="intl", base_url="http://x.test/api/v1")
    assert custom.base_url == "http://x.test/api/v1"
    monkeypatch.setenv("BAILIAN_BASE_URL", "http://env.test/api/v1")
    assert BailianAgent(api_key="k", app_id="a").base_url == "http://env.test/api/v1"
    # the one precedence rule: argument, then environment, then the region's default
    assert BailianAgent(api_key="k", app_id="a", region="intl").base_url == "http://env.test/api/v1"
    with pytest.raises(ConfigError, match="region"):
        BailianAgent(api_key="k", app_id="a", region="eu")  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="DASHSCOPE_API_KEY"):
        BailianAgent(app_id="a")
    with pytest.raises(ConfigError, match="BAILIAN_APP_ID"):
        BailianAgent(api_key="k")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-env")
    monkeypatch.setenv("BAILIAN_APP_ID", "app-env")
    bailian = BailianAgent()
    assert (bailian.api_key, bailian.app_id) == ("sk-env", "app-env")
    assert bailian.manifest.capabilities.stateful_session
    assert "sk-env" not in repr(bailian)


@pytest.mark.parametrize(
    ("code", "retryable"), [("DataInspectionFailed", False), ("Throttling.RateQuota", True)]
)
async def test_an_error_event_mid_stream(
    fake: FakePlatform, store: SessionStore, code: str, retryable: bool
) -> None:
    error = {"code": code, "message": "it went wrong", "request_id": "r9"}
    fake.add(
        APP, Reply(frames=[chunk(1, "Hel"), dashscope_frame(2, error, event="error", status=400)])
    )
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.error"
    assert failed.error.retryable is retryable
    assert code in failed.error.message and "it went wrong" in failed.error.message
    assert "r9" in failed.error.message


async def test_a_wrong_key_fails_with_the_message_and_a_hint(
    fake: FakePlatform, store: SessionStore
) -> None:
    denied = {"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r2"}
    fake.add(APP, Reply(status=401, body=denied))
    async with Runner(agent(fake), store=store, app="t") as runner:
        events = await collect(runner.run("u1", "s1", "hi"))
    failed = terminal(events)
    assert failed.error is not None and failed.error.code == "platform.http_error"
    assert failed.error.retryable is False
    assert "Invalid API-key provided" in failed.error.message
    assert "DASHSCOPE_API_KEY" in failed.error.message and "region" in failed.error.message
