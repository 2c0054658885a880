"""The host's catalogue: the models, tools and knowledge bases runs may be granted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agenthost.core.errors import ConfigError
from agenthost.ports.knowledge import KnowledgeBase
from agenthost.ports.models import ChatModel
from agenthost.ports.tools import Tool


def as_tool(value: Any) -> Tool:
    """A Tool as is; a plain callable becomes a FunctionTool."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        from agenthost.engine.function_tool import FunctionTool

        return FunctionTool(value)
    raise ConfigError(f"Not a tool: {value!r}. Pass a Tool or a plain Python function.")


@dataclass(slots=True)
class Catalog:
    models: dict[str, ChatModel] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    knowledge: dict[str, KnowledgeBase] = field(default_factory=dict)

    def add_models(self, models: Iterable[ChatModel]) -> None:
        for model in models:
            self.models.setdefault(model.name, model)

    def add_tools(self, tools: Iterable[Any]) -> None:
        for value in tools:
            tool = as_tool(value)
            name = tool.spec.name
            existing = self.tools.get(name)
            if existing is not None and existing is not tool:
                raise ConfigError(
                    f"Two different tools are named {name!r}. Give one another name "
                    f"(function_tool(f, name=...))."
                )
            self.tools[name] = tool

    def add_knowledge(self, bases: Iterable[KnowledgeBase]) -> None:
        for kb in bases:
            self.knowledge.setdefault(kb.id, kb)

    def merged(self, other: Catalog) -> Catalog:
        merged = Catalog(dict(self.models), dict(self.tools), dict(self.knowledge))
        merged.add_models(other.models.values())
        merged.add_tools(other.tools.values())
        merged.add_knowledge(other.knowledge.values())
        return merged


def catalog_of(
    *,
    models: Iterable[ChatModel] = (),
    tools: Iterable[Any] = (),
    knowledge: Iterable[KnowledgeBase] = (),
) -> Catalog:
    catalog = Catalog()
    catalog.add_models(models)
    catalog.add_tools(tools)
    catalog.add_knowledge(knowledge)
    return catalog


def named(mapping: Mapping[str, Any]) -> list[str]:
    return sorted(mapping)
