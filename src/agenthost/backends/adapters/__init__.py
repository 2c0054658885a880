"""Agents written with other frameworks, hosted as agenthost agents.

Each adapter wraps a framework's agent (a pydantic-ai `Agent`, a LangGraph compiled graph,
an OpenAI Agents SDK `Agent`, a Google ADK agent, an AgentScope `Agent`), feeds it the
session's history, runs it with streaming and maps what it streams to agent-protocol results.
Each framework sits behind its own extra and is imported only with its adapter class; a missing
one is a MissingExtraError naming the extra. See docs/agents.md, "Agents from other frameworks".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.backends.adapters.adk import ADKAgent
    from agenthost.backends.adapters.agentscope import AgentScopeAgent
    from agenthost.backends.adapters.langgraph import LangGraphAgent
    from agenthost.backends.adapters.openai_agents import OpenAIAgentsAgent
    from agenthost.backends.adapters.pydantic_ai import PydanticAIAgent

__all__ = ["ADKAgent", "AgentScopeAgent", "LangGraphAgent", "OpenAIAgentsAgent", "PydanticAIAgent"]

_LAZY = {
    "ADKAgent": "agenthost.backends.adapters.adk",
    "AgentScopeAgent": "agenthost.backends.adapters.agentscope",
    "LangGraphAgent": "agenthost.backends.adapters.langgraph",
    "OpenAIAgentsAgent": "agenthost.backends.adapters.openai_agents",
    "PydanticAIAgent": "agenthost.backends.adapters.pydantic_ai",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
