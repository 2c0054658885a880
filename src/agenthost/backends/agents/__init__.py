"""Agents whose loop runs elsewhere: Dify, Coze, Alibaba Bailian (DashScope), any A2A agent.

A chat model only talks; these platforms already think and do, so they are agents, not chat
models: each maps its platform's event stream to agent-protocol results, keeps the platform's
conversation id in session state, and stops the platform's work when a run is cancelled. See
docs/agents.md. Importing this package is cheap: aiohttp loads with the first agent class
(`A2AAgent` uses the a2a-sdk client instead, from the `a2a` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.backends.agents.a2a import A2AAgent
    from agenthost.backends.agents.bailian import BailianAgent
    from agenthost.backends.agents.coze import CozeAgent
    from agenthost.backends.agents.dify import DifyAgent

__all__ = ["A2AAgent", "BailianAgent", "CozeAgent", "DifyAgent"]

_LAZY = {
    "A2AAgent": "agenthost.backends.agents.a2a",
    "BailianAgent": "agenthost.backends.agents.bailian",
    "CozeAgent": "agenthost.backends.agents.coze",
    "DifyAgent": "agenthost.backends.agents.dify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
