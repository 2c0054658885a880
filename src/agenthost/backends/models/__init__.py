"""Chat model backends: `infer_model("provider:model")` and the OpenAI-compatible client.

Importing this package is cheap: the HTTP client (aiohttp) and the model modules load when a
model is built. A missing API key is reported when the model is built (see `providers`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agenthost.core.errors import InvalidArgument, UnknownProviderError
from agenthost.ports.models import ChatModel

if TYPE_CHECKING:
    from agenthost.backends.models.openai_compat import OpenAICompatibleModel
    from agenthost.backends.models.providers import Provider, ProviderSettings

__all__ = ["OpenAICompatibleModel", "Provider", "ProviderSettings", "infer_model"]

_LAZY = {
    "OpenAICompatibleModel": "agenthost.backends.models.openai_compat",
    "Provider": "agenthost.backends.models.providers",
    "ProviderSettings": "agenthost.backends.models.providers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def infer_model(
    model: str | ChatModel,
    *,
    providers: Mapping[str, ProviderSettings] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> ChatModel:
    """A ChatModel from a `provider:model` id (a ChatModel is returned as is).

    `base_url` / `api_key` point the id's provider somewhere else, in one line:
    `infer_model("vllm:qwen2.5", base_url="http://gpu-box:8000/v1")` (any provider name
    works then). `providers` are the providers declared in config: they add new names (any
    OpenAI-compatible base URL) or override a known provider's URL, key and prices.
    Precedence for each provider setting: argument, then config, then the environment
    (`<NAME>_BASE_URL`, `<NAME>_API_KEY`), then the built-in default. Models of the same
    provider configuration share one pooled client.
    """
    if not isinstance(model, str):
        return model
    if base_url is not None or api_key is not None:
        model_provider = model.partition(":")[0]
        from agenthost.backends.models.providers import ProviderSettings as _Settings

        declared_settings = (providers or {}).get(model_provider) or _Settings()
        overridden = dataclasses.replace(
            declared_settings,
            base_url=base_url or declared_settings.base_url,
            api_key=api_key or declared_settings.api_key,
        )
        providers = {**(providers or {}), model_provider: overridden}
    provider_name, sep, model_name = model.partition(":")
    if not sep or not provider_name or not model_name:
        raise InvalidArgument(
            "model",
            f"{model!r} is not a 'provider:model' id. Write e.g. 'openai:gpt-4o-mini', "
            f"'dashscope:qwen-plus' or 'ollama:llama3.2'.",
        )
    from agenthost.backends.models import providers as _providers

    declared = providers or {}
    settings = declared.get(provider_name)
    if provider_name == "local":
        return _local_model(model_name, settings)
    if provider_name not in _providers.KNOWN_PROVIDERS and settings is None:
        raise UnknownProviderError(provider_name, {*_providers.KNOWN_PROVIDERS, *declared})
    from agenthost.backends.models.openai_compat import OpenAICompatibleModel

    provider = _providers.shared_provider(provider_name, settings, known=declared)
    return OpenAICompatibleModel(model_name, provider=provider)


def _local_model(model_name: str, settings: ProviderSettings | None) -> ChatModel:
    local = importlib.import_module("agenthost.backends.models.local")
    factory: Callable[..., ChatModel] = local.make_local_model
    options = dict(settings.options) if settings is not None else {}
    return factory(model_name, **options)


def _register() -> None:
    from agenthost.engine.resolve import set_model_resolver

    set_model_resolver(infer_model)


_register()
