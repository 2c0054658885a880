"""Agent kinds: one config struct and one registry entry per kind (see `_base.py`).

    from agenthost.config.kinds import AgentKindSpec, agent_kinds, register_agent_kind

Built-in kinds live in the modules of this package (llm, platforms, plugin, composition,
adapters); a package adds its own through the entry point group `agenthost.agent_kinds` or
`register_agent_kind()`. `kind:` in an agent's config entry picks the kind (default `llm`).
"""

from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec
from agenthost.config.kinds._builder import AgentBuilder, auto_model
from agenthost.config.kinds._registry import (
    ENTRY_POINT_GROUP,
    agent_kind,
    agent_kinds,
    register_agent_kind,
    unregister_agent_kind,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AgentBuilder",
    "AgentKindConfig",
    "AgentKindSpec",
    "agent_kind",
    "agent_kinds",
    "auto_model",
    "register_agent_kind",
    "unregister_agent_kind",
]
