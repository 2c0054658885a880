"""agenthost: a fast, light runtime that hosts AI agents.

Public names are imported lazily, so `import agenthost` costs almost nothing until you use one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # core
    "Event": "agenthost.core.events",
    "Message": "agenthost.core.messages",
    "TextPart": "agenthost.core.messages",
    "ImagePart": "agenthost.core.messages",
    "FilePart": "agenthost.core.messages",
    "ToolCallPart": "agenthost.core.messages",
    "ToolResultPart": "agenthost.core.messages",
    "Usage": "agenthost.core.usage",
    "Session": "agenthost.core.session",
    "SessionKey": "agenthost.core.session",
    "AgentHostError": "agenthost.core.errors",
    # ports
    "ChatModel": "agenthost.ports.models",
    "ModelSettings": "agenthost.ports.models",
    "ToolSpec": "agenthost.ports.models",
    "Agent": "agenthost.ports.protocol",
    "HostAPI": "agenthost.ports.protocol",
    "RunContext": "agenthost.ports.protocol",
    "Manifest": "agenthost.ports.protocol",
    "SessionStore": "agenthost.ports.sessions",
    # engine
    "Runner": "agenthost.engine.runner",
    "collect": "agenthost.engine.runner",
    "final_text": "agenthost.engine.runner",
    "LLMAgent": "agenthost.engine.llm_agent",
    "function_tool": "agenthost.engine.function_tool",
    "FunctionTool": "agenthost.engine.function_tool",
    "RetryPolicy": "agenthost.engine.model_chain",
    "ChainAgent": "agenthost.engine.composition",
    "ParallelAgent": "agenthost.engine.composition",
    "LoopAgent": "agenthost.engine.composition",
    "TransferAgent": "agenthost.engine.composition",
    "agent_tool": "agenthost.engine.composition",
    # backends
    "open_session_store": "agenthost.backends.sessions",
    "infer_model": "agenthost.backends.models",
    "InMemoryKnowledgeBase": "agenthost.backends.knowledge",
    "PluginAgent": "agenthost.backends.plugins",
}

__all__ = [
    "Agent",
    "AgentHostError",
    "ChainAgent",
    "ChatModel",
    "Event",
    "FilePart",
    "FunctionTool",
    "HostAPI",
    "ImagePart",
    "InMemoryKnowledgeBase",
    "LLMAgent",
    "LoopAgent",
    "Manifest",
    "Message",
    "ModelSettings",
    "ParallelAgent",
    "PluginAgent",
    "RetryPolicy",
    "RunContext",
    "Runner",
    "Session",
    "SessionKey",
    "SessionStore",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "ToolSpec",
    "TransferAgent",
    "Usage",
    "agent_tool",
    "collect",
    "final_text",
    "function_tool",
    "infer_model",
    "open_session_store",
]

if TYPE_CHECKING:
    from agenthost.backends.knowledge import InMemoryKnowledgeBase
    from agenthost.backends.models import infer_model
    from agenthost.backends.plugins import PluginAgent
    from agenthost.backends.sessions import open_session_store
    from agenthost.core.errors import AgentHostError
    from agenthost.core.events import Event
    from agenthost.core.messages import (
        FilePart,
        ImagePart,
        Message,
        TextPart,
        ToolCallPart,
        ToolResultPart,
    )
    from agenthost.core.session import Session, SessionKey
    from agenthost.core.usage import Usage
    from agenthost.engine.composition import (
        ChainAgent,
        LoopAgent,
        ParallelAgent,
        TransferAgent,
        agent_tool,
    )
    from agenthost.engine.function_tool import FunctionTool, function_tool
    from agenthost.engine.llm_agent import LLMAgent
    from agenthost.engine.model_chain import RetryPolicy
    from agenthost.engine.runner import Runner, collect, final_text
    from agenthost.ports.models import ChatModel, ModelSettings, ToolSpec
    from agenthost.ports.protocol import Agent, HostAPI, Manifest, RunContext
    from agenthost.ports.sessions import SessionStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agenthost' has no attribute {name!r}")
    if name == "LLMAgent":  # 'provider:model' strings need the model backends' resolver
        importlib.import_module("agenthost.backends.models")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
