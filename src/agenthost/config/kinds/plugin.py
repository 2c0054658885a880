"""`kind: plugin`: an agent in another process speaking agent protocol v1 (PluginAgent), with
the models, tools, knowledge bases and long-term memory it is granted. The plugin reaches them
through the host API, as far as `allowed_permissions` lets its manifest ask."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import msgspec

from agenthost.config._types import PositiveFloat, Problem
from agenthost.config._validate import model_problems, tool_ref_problems
from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec
from agenthost.config.mcp import McpToolFilter, agent_problems
from agenthost.ports.protocol import MemoryOp, MemoryResource, Permissions

if TYPE_CHECKING:
    from agenthost.config.kinds._builder import AgentBuilder
    from agenthost.config.schema import AgentHostConfig
    from agenthost.engine.catalog import Catalog
    from agenthost.engine.retrieval import MemoryUse
    from agenthost.ports.protocol import Agent, Resources

ORDER = 20


class PluginAgentConfig(AgentKindConfig):
    """`command` (a process on stdio) or `url` (a plugin served over HTTP). `model`/`models`
    (aliases or 'provider:model' ids), `tools` (tool refs, 'mcp:SERVER' for an MCP server's
    tools), `mcp` (some tools of an MCP server: {SERVER: {allow, deny}}) and `knowledge`
    ('package.module:attribute' refs to knowledge bases) are what its runs may use. `memory`:
    `true` grants its runs the run's user's long-term memory (`host.memory`, the knowledge
    store's, as an `llm` agent's `memory:`), or a list of the operations it may use (search,
    add, list, delete); `allowed_permissions` must then allow `memory`."""

    kind: Literal["plugin"] = "plugin"
    command: list[str] | None = None
    url: str | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    inherit_env: bool | None = None
    headers: dict[str, str] | None = None
    allowed_permissions: Permissions | None = None
    timeout: PositiveFloat | None = None
    start_timeout: PositiveFloat | None = None
    model: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    tools: list[str] = msgspec.field(default_factory=list)
    mcp: dict[str, McpToolFilter] = msgspec.field(default_factory=dict)
    knowledge: list[str] = msgspec.field(default_factory=list)
    memory: bool | list[str] = False

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        problems: list[Problem] = []
        if (self.command is None) == (self.url is None):
            problems.append(
                (
                    ("command",),
                    "a plugin needs either command: [...] (a process on stdio) or url: "
                    "'http://...' (a plugin served over HTTP), and not both",
                )
            )
        problems.extend(model_problems(self.model, config))
        for index, ref in enumerate(self.models):
            problems.extend(((("models", index), why) for _, why in model_problems(ref, config)))
        problems.extend(tool_ref_problems(self.tools))
        problems.extend(agent_problems(self.tools, self.mcp, config))
        problems.extend(self._memory_problems())
        return problems

    def _memory_problems(self) -> list[Problem]:
        if self.memory == []:
            return [
                (
                    ("memory",),
                    "an empty list grants nothing: name the operations (search, add, list, "
                    "delete), write `memory: true` for all of them, or leave memory out",
                )
            ]
        known = get_args(MemoryOp)
        unknown: list[Problem] = [
            (
                ("memory", index),
                f"{op!r} is not a memory operation: write one of {', '.join(known)}",
            )
            for index, op in enumerate(self.memory if isinstance(self.memory, list) else [])
            if op not in known
        ]
        if unknown:
            return unknown
        allowed = self.allowed_permissions
        if self.memory and (allowed is None or not allowed.memory):
            return [
                (
                    ("memory",),
                    "grants memory, but allowed_permissions does not let the plugin ask for "
                    "it: add `memory: true` to allowed_permissions",
                )
            ]
        return []


def build(name: str, config: PluginAgentConfig, builder: AgentBuilder) -> Agent:
    from agenthost.engine.catalog import catalog_of

    models = builder.models(name, config.model)[0] if config.model is not None else []
    for index, ref in enumerate(config.models):
        models.extend(builder.models(name, ref, field=f"models[{index}]")[0])
    granted = catalog_of(
        models=models,
        tools=builder.tools(name, config.tools, mcp=config.mcp),
        knowledge=builder.knowledge(name, config.knowledge),
    )
    settings: dict[str, Any] = {
        f: getattr(config, f)
        for f in ("url", "cwd", "env", "inherit_env", "headers", "allowed_permissions")
        if getattr(config, f) is not None
    }
    for f in ("timeout", "start_timeout"):
        if getattr(config, f) is not None:
            settings[f] = getattr(config, f)
    made: Agent = builder.construct(
        name,
        _granted_plugin_class(),
        config.command,
        name=name,
        granted=granted,
        memory=_memory(config, builder),
        memory_grant=_memory_grant(config.memory),
        **settings,
    )
    return made


def _memory(config: PluginAgentConfig, builder: AgentBuilder) -> MemoryUse | None:
    """The memory store the plugin's runs are granted (through the host API only: nothing
    is added to its context, nothing remembered for it), or None."""
    if not config.memory:
        return None
    from agenthost.backends.knowledge.memory_store import KnowledgeMemory
    from agenthost.config.knowledge import make_store
    from agenthost.config.paths import home_dir
    from agenthost.engine.retrieval import MemoryUse

    store = make_store(builder.config, home_dir())
    return MemoryUse(
        memory=KnowledgeMemory(store),
        context=False,
        tool=False,
        auto_add=False,
        prepare=store.open,
        close=store.aclose,
    )


def _memory_grant(memory: bool | list[str]) -> MemoryResource | None:
    if not memory:
        return None
    return (
        MemoryResource()
        if memory is True
        else MemoryResource(operations=cast(list[MemoryOp], list(memory)))
    )


@functools.cache
def _granted_plugin_class() -> Any:
    """PluginAgent with a catalogue of its own: the runner grants a run of it (alone or inside
    a composition) exactly what the config gives it, as far as its manifest asks."""
    from agenthost.backends.plugins import PluginAgent
    from agenthost.engine.catalog import resources_for

    class GrantedPlugin(PluginAgent):
        def __init__(
            self,
            *args: Any,
            granted: Catalog,
            memory: MemoryUse | None = None,
            memory_grant: MemoryResource | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self._granted = granted
            self.memory = memory  # the Runner grants runs this store (`agent_memory`)
            self._memory_grant = memory_grant

        def catalog(self) -> Catalog:
            return self._granted

        def resources(self) -> Resources:
            granted = resources_for(_ManifestOnly(self), self._granted)
            granted.memory = self._memory_grant
            return granted

        async def __aenter__(self) -> PluginAgent:
            if self.memory is not None:
                await self.memory.open()
            return await super().__aenter__()

        async def aclose(self) -> None:
            try:
                await super().aclose()
            finally:
                if self.memory is not None:
                    await self.memory.aclose()

    return GrantedPlugin


class _ManifestOnly:
    """An agent seen through its manifest only: `resources_for` then grants what the manifest's
    permissions allow of a catalogue."""

    def __init__(self, agent: Any) -> None:
        self.manifest = agent.manifest


KINDS = [
    AgentKindSpec(
        name="plugin",
        config=PluginAgentConfig,
        build=build,
        summary="an agent in another process, speaking agent protocol v1 (JSON-RPC)",
    )
]
