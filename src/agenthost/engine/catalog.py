"""The host's catalogue: the models, tools and knowledge bases runs may be granted, and the
resources a run of an agent gets by default (`resources_for`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agenthost.core.errors import ConfigError
from agenthost.ports.knowledge import KnowledgeBase
from agenthost.ports.models import ChatModel
from agenthost.ports.protocol import (
    KnowledgeResource,
    ModelResource,
    Resources,
    StateResource,
    ToolResource,
)
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
        """Add tools; a tool that brings a catalogue of its own (`agent_tool`: the models and
        tools of the agent it runs) adds that too."""
        for value in tools:
            tool = as_tool(value)
            name = tool.spec.name
            existing = self.tools.get(name)
            if existing is not None and not _same_tool(existing, tool):
                raise ConfigError(
                    f"Two different tools are named {name!r}. Give one another name "
                    f"(function_tool(f, name=...))."
                )
            self.tools[name] = tool
            brought = getattr(tool, "catalog", None)
            if callable(brought):
                other: Catalog = brought()
                self.add_models(other.models.values())
                self.add_tools(other.tools.values())
                self.add_knowledge(other.knowledge.values())

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


def _same_tool(a: Tool, b: Tool) -> bool:
    """The same tool object, or two FunctionTools around the same function (two agents each
    given `get_weather` share one catalogue entry)."""
    if a is b:
        return True
    function = getattr(a, "function", None)
    return function is not None and function is getattr(b, "function", None)


# ---- default resources --------------------------------------------------------------------


def resources_for(agent: Any, catalog: Catalog) -> Resources:
    """What a run of `agent` is granted when the Runner is given no `resources`:

    - a composed agent (it has `sub_agents`): the union over its sub-agents;
    - an agent with a `resources()` method (LLMAgent): what it asks for;
    - any other agent: everything in `catalog` that its manifest's permissions allow.

    A granted tool that runs an agent (`agent_tool`) adds that agent's resources.
    """
    subs: Sequence[Any] | None = getattr(agent, "sub_agents", None)
    if subs is not None:
        base = union_resources([resources_for(sub, catalog) for sub in subs])
    else:
        asked = getattr(agent, "resources", None)
        base = asked() if callable(asked) else _permitted(agent, catalog)
    extra: list[Resources] = []
    for granted in base.tools:
        brings = getattr(catalog.tools.get(granted.tool_name), "resources", None)
        if callable(brings):
            extra.append(brings())
    return union_resources([base, *extra]) if extra else base


def _permitted(agent: Any, catalog: Catalog) -> Resources:
    perms = agent.manifest.permissions
    base = Resources()
    if perms.models:
        base.models = [ModelResource(model_id=m) for m in catalog.models]
    if perms.tools:
        base.tools = [
            ToolResource(tool_name=name, description=tool.spec.description)
            for name, tool in catalog.tools.items()
        ]
    if perms.knowledge_bases:
        base.knowledge_bases = [KnowledgeResource(kb_id=k) for k in catalog.knowledge]
    return base


def union_resources(all_resources: Sequence[Resources]) -> Resources:
    """Everything any of `all_resources` grants (operations merged per model, tool and
    knowledge base; state scopes and keys merged; the first storage namespace)."""
    if len(all_resources) == 1:
        return all_resources[0]
    models: dict[str, ModelResource] = {}
    tools: dict[str, ToolResource] = {}
    bases: dict[str, KnowledgeResource] = {}
    read: list[Any] = []
    write: list[Any] = []
    keys: set[str] | None = set()
    storage = None
    for res in all_resources:
        for m in res.models:
            known = models.setdefault(m.model_id, ModelResource(model_id=m.model_id, operations=[]))
            known.operations = _merged(known.operations, m.operations)
        for t in res.tools:
            tool = tools.setdefault(
                t.tool_name,
                ToolResource(
                    tool_name=t.tool_name,
                    description=t.description,
                    parameters=t.parameters,
                    operations=[],
                ),
            )
            tool.operations = _merged(tool.operations, t.operations)
        for k in res.knowledge_bases:
            kb = bases.setdefault(k.kb_id, KnowledgeResource(kb_id=k.kb_id, operations=[]))
            kb.operations = _merged(kb.operations, k.operations)
        read = _merged(read, res.state.read)
        write = _merged(write, res.state.write)
        keys = None if keys is None or res.state.keys is None else keys | set(res.state.keys)
        storage = storage or res.storage
    return Resources(
        models=list(models.values()),
        tools=list(tools.values()),
        knowledge_bases=list(bases.values()),
        state=StateResource(read=read, write=write, keys=None if keys is None else sorted(keys)),
        storage=storage,
    )


def _merged(a: list[Any], b: Iterable[Any]) -> list[Any]:
    return [*a, *(x for x in b if x not in a)]
