"""infer_model, providers from config and environment, prices, Retry-After."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from agenthost.backends.common.http import parse_retry_after
from agenthost.backends.models import infer_model
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.prices import FREE, find_price
from agenthost.backends.models.providers import (
    KNOWN_PROVIDERS,
    Provider,
    ProviderSettings,
    env_prefix,
    resolve_provider,
)
from agenthost.core.errors import ConfigError, InvalidArgument, UnknownProviderError
from agenthost.core.messages import Message
from agenthost.core.usage import Price
from agenthost.testing.fake_openai import FakeOpenAIServer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in KNOWN_PROVIDERS:
        monkeypatch.delenv(f"{env_prefix(name)}_API_KEY", raising=False)
        monkeypatch.delenv(f"{env_prefix(name)}_BASE_URL", raising=False)
    yield


def is_closed(client: Any) -> bool:
    return bool(client.closed)


def compat(model: Any) -> OpenAICompatibleModel:
    assert isinstance(model, OpenAICompatibleModel)
    return model


def test_missing_colon() -> None:
    with pytest.raises(InvalidArgument, match="'provider:model'") as info:
        infer_model("gpt-4o")
    assert info.value.field == "model" and "openai:gpt-4o-mini" in info.value.message
    for bad in (":gpt-4o", "openai:"):
        with pytest.raises(InvalidArgument):
            infer_model(bad)


def test_unknown_provider_lists_known_and_suggests() -> None:
    with pytest.raises(UnknownProviderError) as info:
        infer_model("opnai:gpt-4o")
    message = info.value.message
    assert "Did you mean 'openai'?" in message
    for name in ("openai", "deepseek", "dashscope", "vllm", "ollama", "llamacpp", "local"):
        assert name in info.value.known and name in message
    with pytest.raises(UnknownProviderError) as info:
        infer_model("mylm:x", providers={"mylmm": ProviderSettings(base_url="http://h/v1")})
    assert "Did you mean 'mylmm'?" in info.value.message


def test_chat_model_instance_is_returned_as_is(model: OpenAICompatibleModel) -> None:
    assert infer_model(model) is model


def test_missing_key_names_the_env_var() -> None:
    with pytest.raises(ConfigError, match="DEEPSEEK_API_KEY"):
        infer_model("deepseek:deepseek-chat")
    settings = {"corp": ProviderSettings(base_url="http://h/v1", api_key_env="CORP_TOKEN")}
    with pytest.raises(ConfigError, match="CORP_TOKEN"):
        infer_model("corp:m", providers=settings)


def test_known_defaults_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds")
    model = compat(infer_model("deepseek:deepseek-chat"))
    assert model.name == "deepseek:deepseek-chat"
    assert model.provider.base_url == "https://api.deepseek.com/v1"
    assert model.provider.headers["Authorization"] == "Bearer sk-ds"
    assert model.price == Price(input_per_mtok=0.28, output_per_mtok=0.42)
    ollama = compat(infer_model("ollama:llama3.2:3b"))  # no key needed; ':' in the model name
    assert ollama.model_name == "llama3.2:3b"
    assert ollama.provider.base_url == "http://127.0.0.1:11434/v1" and ollama.price == FREE
    assert "Authorization" not in ollama.provider.headers
    monkeypatch.setenv("VLLM_BASE_URL", "http://gpu:9000/v1/")
    assert compat(infer_model("vllm:qwen")).provider.base_url == "http://gpu:9000/v1"
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash")
    dash = compat(infer_model("dashscope:qwen-plus", providers={}))
    assert dash.provider.base_url.startswith("https://dashscope.aliyuncs.com")


def test_config_wins_over_env_and_declares_new_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    assert resolve_provider("openai").base_url == "http://env/v1"
    settings = ProviderSettings(base_url="http://cfg/v1", api_key="sk-cfg")
    provider = resolve_provider("openai", settings)
    assert (provider.base_url, provider.api_key) == ("http://cfg/v1", "sk-cfg")
    monkeypatch.setenv("MY_LLM_API_KEY", "sk-mine")
    prices = {"m": Price(input_per_mtok=1, output_per_mtok=1)}
    declared = {"my-llm": ProviderSettings(base_url="http://mine/v1", prices=prices)}
    model = compat(infer_model("my-llm:m", providers=declared))
    assert model.provider.api_key == "sk-mine" and model.price == prices["m"]


def test_provider_repr_hides_the_key() -> None:
    provider = Provider("openai", base_url="https://x/v1", api_key="sk-very-secret")
    assert "very-secret" not in repr(provider)
    assert "very-secret" not in repr(ProviderSettings(api_key="sk-very-secret"))


async def test_same_provider_shares_one_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        first = compat(infer_model("openai:gpt-4o-mini"))
        second = compat(infer_model("openai:gpt-4o"))
        assert first.provider is second.provider
        async with first, second:
            await first.request([Message.user("a")])
            await second.request([Message.user("b")])
            client = first.provider.client
            assert client is second.provider.client and not is_closed(client)
        assert is_closed(client)  # the last user closed it
        assert server.requests[0].headers["authorization"] == "Bearer sk-env"


async def test_a_given_client_is_not_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenthost.backends.common.http import make_http_client

    async with FakeOpenAIServer() as server, make_http_client() as client:
        provider = Provider("fake", base_url=server.base_url, client=client)
        async with OpenAICompatibleModel("m", provider=provider) as model:
            await model.request([Message.user("a")])
        assert not client.closed


def test_local_provider_is_imported_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    fake = object()

    def make_local_model(model_name: str, **options: Any) -> object:
        calls.append((model_name, options))
        return fake

    module = types.ModuleType("agenthost.backends.models.local")
    module.make_local_model = make_local_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agenthost.backends.models.local", module)
    settings = {"local": ProviderSettings(options={"threads": 2})}
    assert infer_model("local:smollm2", providers=settings) is fake
    assert calls == [("smollm2", {"threads": 2})]


def test_importing_the_package_is_cheap() -> None:
    code = (
        "import sys, agenthost.backends.models as m; "
        "print(any(n in sys.modules for n in ('aiohttp', 'httpx2', "
        "'agenthost.backends.models.openai_compat')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_price_lookup() -> None:
    assert find_price("openai", "gpt-4o-mini") == Price(input_per_mtok=0.15, output_per_mtok=0.6)
    assert find_price("openai", "gpt-4o-mini-2024-07-18") == find_price("openai", "gpt-4o-mini")
    assert find_price("openrouter", "openai/gpt-4.1-nano") == find_price("openai", "gpt-4.1-nano")
    assert find_price("vllm", "gpt-4o") == FREE
    assert find_price("openai", "mystery") is None
    cheap = Price(input_per_mtok=0.01, output_per_mtok=0.02)
    assert find_price("openai", "gpt-4o", {"gpt-4o": cheap}) == cheap


def test_retry_after_parsing() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    assert parse_retry_after({"retry-after": date}, now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_shared_provider_is_per_event_loop() -> None:
    import asyncio

    from agenthost.backends.models.providers import ProviderSettings, shared_provider

    settings = ProviderSettings(base_url="http://127.0.0.1:9/v1", api_key="k")

    async def get() -> object:
        first = shared_provider("perloop", settings)
        assert shared_provider("perloop", settings) is first  # one pool within a loop
        return first

    assert asyncio.run(get()) is not asyncio.run(get())


@pytest.mark.parametrize(
    ("headers", "api_key", "names"),
    [
        ({"X-Team": "a\r\nX-Injected: 1"}, None, "header 'X-Team' contains a line break"),
        ({}, "sk-abc\n", "the API key contains a line break"),
        ({"X-Team": "équipe✓"}, None, "header 'X-Team' contains '✓'"),
        ({"X Team": "a"}, None, "header name 'X Team' is not valid"),
    ],
)
def test_headers_http_cannot_carry_are_refused_by_name(
    headers: dict[str, str], api_key: str | None, names: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(names)):
        Provider("team", base_url="http://x/v1", api_key=api_key, headers=headers)


def test_latin1_header_values_are_accepted() -> None:
    provider = Provider("team", base_url="http://x/v1", headers={"X-Team": "équipe"})
    assert provider.headers["X-Team"] == "équipe"
