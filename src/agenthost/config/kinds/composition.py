"""`kind: chain | parallel | loop | transfer`: agents made of other agents of the same file,
named by their keys under `agents:` (see docs/composition.md). Each part is built afresh for
the composition; a name that is not an agent of the file, or parts that contain each other,
are errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from agenthost.config._types import FieldPath, PositiveInt, Problem
from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec

if TYPE_CHECKING:
    from agenthost.config.kinds._builder import AgentBuilder
    from agenthost.config.schema import AgentHostConfig
    from agenthost.ports.protocol import Agent

ORDER = 30


def _listed(field: str, names: list[str]) -> list[tuple[FieldPath, str]]:
    return [((field, index), name) for index, name in enumerate(names)]


def _non_empty(field: str, names: list[str]) -> list[Problem]:
    return [] if names else [((field,), "name at least one agent of this file")]


class ChainAgentConfig(AgentKindConfig, kw_only=True):
    """`agents` in sequence, each answer the next one's input."""

    kind: Literal["chain"] = "chain"
    agents: list[str]

    def references(self) -> list[tuple[FieldPath, str]]:
        return _listed("agents", self.agents)

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        return _non_empty("agents", self.agents)


class ParallelAgentConfig(AgentKindConfig, kw_only=True):
    """`agents` concurrently on the same input, their answers combined in sections;
    `require_all`: one failing branch fails the run."""

    kind: Literal["parallel"] = "parallel"
    agents: list[str]
    require_all: bool = False

    def references(self) -> list[tuple[FieldPath, str]]:
        return _listed("agents", self.agents)

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        problems = _non_empty("agents", self.agents)
        seen: set[str] = set()
        for index, name in enumerate(self.agents):
            if name in seen:
                problems.append((("agents", index), f"{name!r} is listed twice"))
            seen.add(name)
        return problems


class LoopAgentConfig(AgentKindConfig, kw_only=True):
    """`agent` again and again (each answer the next input), at most `max_iterations` times,
    until the state key `until` is truthy or the answer contains `until_contains`."""

    kind: Literal["loop"] = "loop"
    agent: str
    max_iterations: PositiveInt
    until: str | None = None
    until_contains: str | None = None

    def references(self) -> list[tuple[FieldPath, str]]:
        return [(("agent",), self.agent)]

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        if self.until is not None and self.until_contains is not None:
            return [(("until_contains",), "set until (a state key) or until_contains, not both")]
        return []


class TransferAgentConfig(AgentKindConfig, kw_only=True):
    """`router` answers, or hands the run to one of `targets` (it is given one
    `transfer_to_<name>` tool per target)."""

    kind: Literal["transfer"] = "transfer"
    router: str
    targets: list[str]

    def references(self) -> list[tuple[FieldPath, str]]:
        return [(("router",), self.router), *_listed("targets", self.targets)]

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        return _non_empty("targets", self.targets)


def _chain(name: str, config: ChainAgentConfig, builder: AgentBuilder) -> Agent:
    from agenthost.engine.composition import ChainAgent

    parts = [builder.agent(n) for n in config.agents]
    return builder.construct(name, ChainAgent, parts, name=name, description=config.description)


def _parallel(name: str, config: ParallelAgentConfig, builder: AgentBuilder) -> Agent:
    from agenthost.engine.composition import ParallelAgent

    parts = [builder.agent(n) for n in config.agents]
    return builder.construct(
        name,
        ParallelAgent,
        parts,
        name=name,
        description=config.description,
        require_all=config.require_all,
    )


def _loop(name: str, config: LoopAgentConfig, builder: AgentBuilder) -> Agent:
    from agenthost.engine.composition import LoopAgent

    until: Any = config.until
    if config.until_contains is not None:
        marker = config.until_contains
        until = lambda text: marker in text  # noqa: E731 - the loop's condition
    return builder.construct(
        name,
        LoopAgent,
        builder.agent(config.agent),
        max_iterations=config.max_iterations,
        until=until,
        name=name,
        description=config.description,
    )


def _transfer(name: str, config: TransferAgentConfig, builder: AgentBuilder) -> Agent:
    from agenthost.engine.composition import TransferAgent

    router = builder.agent(config.router)
    targets = [builder.agent(n) for n in config.targets]
    return builder.construct(
        name, TransferAgent, router, targets, name=name, description=config.description
    )


KINDS = [
    AgentKindSpec(
        name="chain",
        config=ChainAgentConfig,
        build=_chain,
        summary="agents of this file in sequence, each answer the next one's input",
    ),
    AgentKindSpec(
        name="parallel",
        config=ParallelAgentConfig,
        build=_parallel,
        summary="agents of this file concurrently on the same input, answers combined",
    ),
    AgentKindSpec(
        name="loop",
        config=LoopAgentConfig,
        build=_loop,
        summary="an agent of this file repeated until a condition holds",
    ),
    AgentKindSpec(
        name="transfer",
        config=TransferAgentConfig,
        build=_transfer,
        summary="a router agent that answers or hands the run to a target agent",
    ),
]
