"""Turning 'provider:model' strings into ChatModel objects.

The engine sits below the backends, so it cannot import them. The model backends register
their resolver here when they are imported (`agenthost.backends.models` does it), and as a
convenience the first unresolved string imports that package by name: the one late-bound seam
between the layers, kept in this module so it is easy to see and to replace
(`set_model_resolver`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

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
        importlib.import_module("agenthost.backends.models")
    if _resolver is None:  # pragma: no cover - the package registers itself on import
        raise RuntimeError("no model resolver registered")
    return _resolver(model)
