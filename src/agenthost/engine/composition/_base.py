"""What every composed agent shares: its sub-agents, a merged manifest, catalogue and
resources, and the lifecycle of its sub-agents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from agenthost.core.errors import ConfigError
from agenthost.engine.catalog import Catalog, resources_for
from agenthost.ports.protocol import Agent, Capabilities, Manifest, Permissions, Resources


def _check_agents(agents: Sequence[Any], owner: str) -> tuple[Agent, ...]:
    if not agents:
        raise ConfigError(f"{owner} needs at least one agent, got none.")
    for agent in agents:
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"{owner} got {agent!r}, which is not an agent: it needs a `manifest` and a "
                f"`run(ctx, host)` method (LLMAgent, a platform agent, a PluginAgent, ...)."
            )
    return tuple(agents)


def merged_manifest(kind: str, name: str, description: str, agents: Sequence[Agent]) -> Manifest:
    """A manifest that asks for what any sub-agent asks for."""
    if not name or "." in name:
        raise ConfigError(
            f"Bad name {name!r} for a {kind} agent: it must be non-empty and have no '.', "
            f"which separates the parts of an event's branch."
        )
    caps = [a.manifest.capabilities for a in agents]
    perms = [a.manifest.permissions for a in agents]

    def union(lists: Sequence[Sequence[Any]]) -> list[Any]:
        out: list[Any] = []
        for values in lists:
            out.extend(v for v in values if v not in out)
        return out

    return Manifest(
        id=f"agenthost:{kind}/{name}",
        name=name,
        description=description,
        capabilities=Capabilities(
            streaming=any(c.streaming for c in caps),
            tool_calling=any(c.tool_calling for c in caps),
            knowledge_retrieval=any(c.knowledge_retrieval for c in caps),
            multimodal_input=any(c.multimodal_input for c in caps),
            event_context=any(c.event_context for c in caps),
            stateful_session=any(c.stateful_session for c in caps),
            interrupt=all(c.interrupt for c in caps),
        ),
        permissions=Permissions(
            models=any(p.models for p in perms),
            tools=any(p.tools for p in perms),
            knowledge_bases=any(p.knowledge_bases for p in perms),
            history=union([p.history for p in perms]),
            events=union([p.events for p in perms]),
            state=union([p.state for p in perms]),
            storage=any(p.storage for p in perms),
        ),
    )


class ComposedAgent:
    """Base of ChainAgent, ParallelAgent, LoopAgent and TransferAgent.

    `sub_agents` is what `resources_for` (the Runner's default resources) walks: a run of a
    composed agent is granted the union of what its sub-agents would be granted.
    """

    kind: ClassVar[str] = "composed"

    def __init__(self, agents: Sequence[Any], *, name: str, description: str) -> None:
        self.name = name
        self.sub_agents: tuple[Agent, ...] = _check_agents(agents, f"{type(self).__name__}")
        self._manifest = merged_manifest(self.kind, name, description, self.sub_agents)

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def catalog(self) -> Catalog:
        """The models, tools and knowledge bases the sub-agents bring."""
        catalog = Catalog()
        for agent in self.sub_agents:
            own = getattr(agent, "catalog", None)
            if callable(own):
                catalog = catalog.merged(own())
        return catalog

    def resources(self) -> Resources:
        return resources_for(self, self.catalog())

    # ---- lifecycle: the sub-agents are ours to open and close ----------------------------

    async def __aenter__(self) -> ComposedAgent:
        opened: list[Agent] = []
        try:
            for agent in self.sub_agents:
                enter = getattr(agent, "__aenter__", None)
                if enter is not None:
                    await enter()
                opened.append(agent)
        except BaseException:
            await _close_all(opened)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await _close_all(self.sub_agents)


async def _close_all(agents: Sequence[Agent]) -> None:
    for agent in reversed(agents):
        close = getattr(agent, "aclose", None)
        if close is not None:
            await close()
            continue
        exit_ = getattr(agent, "__aexit__", None)
        if exit_ is not None:
            await exit_(None, None, None)
