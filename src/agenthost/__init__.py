"""agenthost: a fast, light runtime that hosts AI agents.

Everything a user needs is importable from here (test doubles from `agenthost.testing`, the
plugin SDK from `agenthost.plugin`)::

    from agenthost import LLMAgent, Runner, ask, open_session_store

Names are imported lazily, so `import agenthost` costs almost nothing until you use one, and a
name from an optional extra (the server, a framework adapter) imports it only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # core
    "Event": "agenthost.core.events",
    "ErrorInfo": "agenthost.core.events",
    "Message": "agenthost.core.messages",
    "TextPart": "agenthost.core.messages",
    "ImagePart": "agenthost.core.messages",
    "FilePart": "agenthost.core.messages",
    "ToolCallPart": "agenthost.core.messages",
    "ToolResultPart": "agenthost.core.messages",
    "Usage": "agenthost.core.usage",
    "Price": "agenthost.core.usage",
    "Session": "agenthost.core.session",
    "SessionKey": "agenthost.core.session",
    "SessionInfo": "agenthost.core.session",
    "AgentHostError": "agenthost.core.errors",
    "ConfigError": "agenthost.core.errors",
    "UnknownProviderError": "agenthost.core.errors",
    "UnknownBackendError": "agenthost.core.errors",
    "MissingExtraError": "agenthost.core.errors",
    "UserError": "agenthost.core.errors",
    "InvalidArgument": "agenthost.core.errors",
    "SessionNotFound": "agenthost.core.errors",
    "SessionExists": "agenthost.core.errors",
    "RunNotFound": "agenthost.core.errors",
    "SessionBusy": "agenthost.core.errors",
    "RunError": "agenthost.core.errors",
    "ModelError": "agenthost.core.errors",
    "ModelHTTPError": "agenthost.core.errors",
    "ModelTimeout": "agenthost.core.errors",
    "ModelUnavailable": "agenthost.core.errors",
    "ModelResponseError": "agenthost.core.errors",
    "ToolError": "agenthost.core.errors",
    "ToolTimeout": "agenthost.core.errors",
    "SandboxUnavailable": "agenthost.core.errors",
    "MaxTurnsExceeded": "agenthost.core.errors",
    "RunCancelled": "agenthost.core.errors",
    "RunDeadlineExceeded": "agenthost.core.errors",
    "RunInterrupted": "agenthost.core.errors",
    "PluginError": "agenthost.core.errors",
    "HostAPIError": "agenthost.core.errors",
    "StoreError": "agenthost.core.errors",
    "BackendUnavailable": "agenthost.core.errors",
    # ports
    "ChatModel": "agenthost.ports.models",
    "ModelSettings": "agenthost.ports.models",
    "ModelResponse": "agenthost.ports.models",
    "ToolSpec": "agenthost.ports.models",
    "Agent": "agenthost.ports.protocol",
    "HostAPI": "agenthost.ports.protocol",
    "RunContext": "agenthost.ports.protocol",
    "Manifest": "agenthost.ports.protocol",
    "Permissions": "agenthost.ports.protocol",
    "Capabilities": "agenthost.ports.protocol",
    "Resources": "agenthost.ports.protocol",
    "MessageDelta": "agenthost.ports.protocol",
    "MessageCompleted": "agenthost.ports.protocol",
    "ToolCallStarted": "agenthost.ports.protocol",
    "ToolCallCompleted": "agenthost.ports.protocol",
    "StateUpdated": "agenthost.ports.protocol",
    "RunCompleted": "agenthost.ports.protocol",
    "RunFailed": "agenthost.ports.protocol",
    "SessionStore": "agenthost.ports.sessions",
    "Tool": "agenthost.ports.tools",
    "ToolOutput": "agenthost.ports.tools",
    "KnowledgeBase": "agenthost.ports.knowledge",
    # engine
    "Runner": "agenthost.engine.runner",
    "RunFailedError": "agenthost.engine.runner",
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
    "OpenAICompatibleModel": "agenthost.backends.models",
    "Provider": "agenthost.backends.models",
    "ProviderSettings": "agenthost.backends.models",
    "InMemoryKnowledgeBase": "agenthost.backends.knowledge",
    "McpServer": "agenthost.backends.tools.mcp",
    "file_tools": "agenthost.backends.tools.files",
    "FileLimits": "agenthost.backends.tools.files",
    "WebPolicy": "agenthost.backends.tools.web",
    "FetchLimits": "agenthost.backends.tools.web",
    "Fetcher": "agenthost.backends.tools.web",
    "make_fetch_tool": "agenthost.backends.tools.web",
    "make_search_tool": "agenthost.backends.tools.web",
    "SearxngSearch": "agenthost.backends.tools.web",
    "TavilySearch": "agenthost.backends.tools.web",
    "make_run_code_tool": "agenthost.backends.tools.sandbox",
    "SandboxLimits": "agenthost.backends.tools.sandbox",
    "BwrapSandbox": "agenthost.backends.tools.sandbox",
    "DockerSandbox": "agenthost.backends.tools.sandbox",
    "PluginAgent": "agenthost.backends.plugins",
    "A2AAgent": "agenthost.backends.agents",
    "BailianAgent": "agenthost.backends.agents",
    "CozeAgent": "agenthost.backends.agents",
    "DifyAgent": "agenthost.backends.agents",
    "ADKAgent": "agenthost.backends.adapters",
    "AgentScopeAgent": "agenthost.backends.adapters",
    "LangGraphAgent": "agenthost.backends.adapters",
    "OpenAIAgentsAgent": "agenthost.backends.adapters",
    "PydanticAIAgent": "agenthost.backends.adapters",
    # config
    "AgentConfig": "agenthost.config",
    "AgentHostConfig": "agenthost.config",
    "ModelConfig": "agenthost.config",
    "ProviderConfig": "agenthost.config",
    "RunnerConfig": "agenthost.config",
    "ServerConfig": "agenthost.config",
    "StoreConfig": "agenthost.config",
    "Runtime": "agenthost.config",
    "build_runtime": "agenthost.config",
    "build_runtimes": "agenthost.config",
    "load_config": "agenthost.config",
    # server (the `server` extra)
    "create_app": "agenthost.server",
    "RunRequest": "agenthost.server",
    "ServerState": "agenthost.server",
    "Principal": "agenthost.server",
    "Who": "agenthost.server.state",
    # one call
    "ask": "agenthost._ask",
}

__all__ = [
    "A2AAgent",
    "ADKAgent",
    "Agent",
    "AgentConfig",
    "AgentHostConfig",
    "AgentHostError",
    "AgentScopeAgent",
    "BackendUnavailable",
    "BailianAgent",
    "BwrapSandbox",
    "Capabilities",
    "ChainAgent",
    "ChatModel",
    "ConfigError",
    "CozeAgent",
    "DifyAgent",
    "DockerSandbox",
    "ErrorInfo",
    "Event",
    "FetchLimits",
    "Fetcher",
    "FileLimits",
    "FilePart",
    "FunctionTool",
    "HostAPI",
    "HostAPIError",
    "ImagePart",
    "InMemoryKnowledgeBase",
    "InvalidArgument",
    "KnowledgeBase",
    "LLMAgent",
    "LangGraphAgent",
    "LoopAgent",
    "Manifest",
    "MaxTurnsExceeded",
    "McpServer",
    "Message",
    "MessageCompleted",
    "MessageDelta",
    "MissingExtraError",
    "ModelConfig",
    "ModelError",
    "ModelHTTPError",
    "ModelResponse",
    "ModelResponseError",
    "ModelSettings",
    "ModelTimeout",
    "ModelUnavailable",
    "OpenAIAgentsAgent",
    "OpenAICompatibleModel",
    "ParallelAgent",
    "Permissions",
    "PluginAgent",
    "PluginError",
    "Price",
    "Principal",
    "Provider",
    "ProviderConfig",
    "ProviderSettings",
    "PydanticAIAgent",
    "Resources",
    "RetryPolicy",
    "RunCancelled",
    "RunCompleted",
    "RunContext",
    "RunDeadlineExceeded",
    "RunError",
    "RunFailed",
    "RunFailedError",
    "RunInterrupted",
    "RunNotFound",
    "RunRequest",
    "Runner",
    "RunnerConfig",
    "Runtime",
    "SandboxLimits",
    "SandboxUnavailable",
    "SearxngSearch",
    "ServerConfig",
    "ServerState",
    "Session",
    "SessionBusy",
    "SessionExists",
    "SessionInfo",
    "SessionKey",
    "SessionNotFound",
    "SessionStore",
    "StateUpdated",
    "StoreConfig",
    "StoreError",
    "TavilySearch",
    "TextPart",
    "Tool",
    "ToolCallCompleted",
    "ToolCallPart",
    "ToolCallStarted",
    "ToolError",
    "ToolOutput",
    "ToolResultPart",
    "ToolSpec",
    "ToolTimeout",
    "TransferAgent",
    "UnknownBackendError",
    "UnknownProviderError",
    "Usage",
    "UserError",
    "WebPolicy",
    "Who",
    "agent_tool",
    "ask",
    "build_runtime",
    "build_runtimes",
    "collect",
    "create_app",
    "file_tools",
    "final_text",
    "function_tool",
    "infer_model",
    "load_config",
    "make_fetch_tool",
    "make_run_code_tool",
    "make_search_tool",
    "open_session_store",
]

if TYPE_CHECKING:
    from agenthost._ask import ask
    from agenthost.backends.adapters import (
        ADKAgent,
        AgentScopeAgent,
        LangGraphAgent,
        OpenAIAgentsAgent,
        PydanticAIAgent,
    )
    from agenthost.backends.agents import A2AAgent, BailianAgent, CozeAgent, DifyAgent
    from agenthost.backends.knowledge import InMemoryKnowledgeBase
    from agenthost.backends.models import (
        OpenAICompatibleModel,
        Provider,
        ProviderSettings,
        infer_model,
    )
    from agenthost.backends.plugins import PluginAgent
    from agenthost.backends.sessions import open_session_store
    from agenthost.backends.tools.files import FileLimits, file_tools
    from agenthost.backends.tools.mcp import McpServer
    from agenthost.backends.tools.sandbox import (
        BwrapSandbox,
        DockerSandbox,
        SandboxLimits,
        make_run_code_tool,
    )
    from agenthost.backends.tools.web import (
        Fetcher,
        FetchLimits,
        SearxngSearch,
        TavilySearch,
        WebPolicy,
        make_fetch_tool,
        make_search_tool,
    )
    from agenthost.config import (
        AgentConfig,
        AgentHostConfig,
        ModelConfig,
        ProviderConfig,
        RunnerConfig,
        Runtime,
        ServerConfig,
        StoreConfig,
        build_runtime,
        build_runtimes,
        load_config,
    )
    from agenthost.core.errors import (
        AgentHostError,
        BackendUnavailable,
        ConfigError,
        HostAPIError,
        InvalidArgument,
        MaxTurnsExceeded,
        MissingExtraError,
        ModelError,
        ModelHTTPError,
        ModelResponseError,
        ModelTimeout,
        ModelUnavailable,
        PluginError,
        RunCancelled,
        RunDeadlineExceeded,
        RunError,
        RunInterrupted,
        RunNotFound,
        SandboxUnavailable,
        SessionBusy,
        SessionExists,
        SessionNotFound,
        StoreError,
        ToolError,
        ToolTimeout,
        UnknownBackendError,
        UnknownProviderError,
        UserError,
    )
    from agenthost.core.events import ErrorInfo, Event
    from agenthost.core.messages import (
        FilePart,
        ImagePart,
        Message,
        TextPart,
        ToolCallPart,
        ToolResultPart,
    )
    from agenthost.core.session import Session, SessionInfo, SessionKey
    from agenthost.core.usage import Price, Usage
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
    from agenthost.engine.runner import RunFailedError, Runner, collect, final_text
    from agenthost.ports.knowledge import KnowledgeBase
    from agenthost.ports.models import ChatModel, ModelResponse, ModelSettings, ToolSpec
    from agenthost.ports.protocol import (
        Agent,
        Capabilities,
        HostAPI,
        Manifest,
        MessageCompleted,
        MessageDelta,
        Permissions,
        Resources,
        RunCompleted,
        RunContext,
        RunFailed,
        StateUpdated,
        ToolCallCompleted,
        ToolCallStarted,
    )
    from agenthost.ports.sessions import SessionStore
    from agenthost.ports.tools import Tool, ToolOutput
    from agenthost.server import Principal, RunRequest, ServerState, create_app
    from agenthost.server.state import Who


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
    return [*__all__, "__version__"]
