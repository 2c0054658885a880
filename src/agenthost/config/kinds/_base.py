"""The two things a kind of agent is made of: its config struct and its registry entry.

    class EchoConfig(AgentKindConfig):
        kind: Literal["echo"] = "echo"
        prefix: str = ""

    def build(name: str, config: EchoConfig, builder: AgentBuilder) -> Agent:
        return EchoAgent(name=name, prefix=config.prefix)

    KINDS = [AgentKindSpec(name="echo", config=EchoConfig, build=build, summary="...")]

A kind's struct lists every setting it takes (anything else in its config entry is an error
naming the field); `references()` names the other agents of the file it is made of, and
`problems()` reports what refers to something missing (a model alias, a tool ref). `build` runs
when the agent is hosted, so a kind imports its backend there, never at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agenthost.config._budgets import BudgetsConfig, PricingConfig
from agenthost.config._types import ConfigStruct, FieldPath, Problem

if TYPE_CHECKING:
    from agenthost.config.kinds._builder import AgentBuilder
    from agenthost.config.schema import AgentHostConfig
    from agenthost.ports.protocol import Agent


class AgentKindConfig(ConfigStruct):
    """Base of every kind's config: `kind` (each kind narrows it to its own name, with that
    name as the default), `description`, and `pricing` / `budgets` (config/_budgets.py)."""

    kind: str = ""
    description: str = ""
    pricing: PricingConfig | None = None
    budgets: BudgetsConfig | None = None

    def references(self) -> list[tuple[FieldPath, str]]:
        """The other agents of the file this agent is made of: (field path within the entry,
        agent name), e.g. `(("agents", 0), "writer")` for a chain."""
        return []

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        """What refers to something the config lacks (paths within the entry)."""
        return []


BuildAgent = Callable[[str, Any, "AgentBuilder"], "Agent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentKindSpec:
    """One registry entry: the kind's name (the value of `kind:`), its config struct, how to
    build the agent from an entry (`build(name, config, builder)`), and a one-line summary for
    the docs and for messages."""

    name: str
    config: type[AgentKindConfig]
    build: BuildAgent
    summary: str

    def fields(self) -> list[str]:
        """The settings of this kind, as written in the file (`kind` first)."""
        import msgspec

        return [f.encode_name for f in msgspec.structs.fields(self.config)]
