"""Turning 'provider:model' strings into ChatModel objects.

The engine sits below the backends, so it cannot import them, not even by name at run time.
Whoever can see the backends registers the resolver: `agenthost.backends.models` does it when
it is imported (and `from agenthost import LLMAgent` imports it); a program may set its own
with `set_model_resolver`. Without one, a string model id is a ConfigError that says so.
"""

from __future__ import annotations

from collections.abc import Callable

from agenthost.core.errors import ConfigError
from agenthost.ports.models import ChatModel

ModelResolver = Callable[[str], ChatModel]
_resolver: ModelResolver | None = None


def set_model_resolver(resolver: ModelResolver | None) -> None:
    global _resolver
    _resolver = resolver


def resolve_model(model: str | ChatModel) -> ChatModel:
    if not isinstance(model, str):
        return model
    if _resolver is None:
        raise ConfigError(
            f"Cannot make a model from {model!r}: no model resolver is registered. Import "
            f"agenthost.backends.models (or use `from agenthost import LLMAgent`), call "
            f"set_model_resolver(...), or pass a ChatModel object."
        )
    return _resolver(model)
