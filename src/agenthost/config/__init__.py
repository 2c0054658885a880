"""Config: `agenthost.yaml` -> `AgentHostConfig` -> `build_runtime(config)` -> a Runner.

    from agenthost.config import AgentConfig, AgentHostConfig, build_runtime, load_config

    config = load_config("agenthost.yaml")          # or AgentHostConfig(agents={...}) in code
    async with build_runtime(config, agent="helper") as rt:
        async for event in rt.runner.run("alice", None, "hello"):
            ...

Each agent entry is the config struct of its kind (`LLMAgentConfig`, `DifyAgentConfig`,
`ChainAgentConfig`, ...; `AgentConfig` is `LLMAgentConfig`), from the registry of agent kinds
(`agent_kinds()`, `register_agent_kind()`, see `agenthost.config.kinds`).

Names are exported lazily so `import agenthost.config` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.config.build import (
        Runtime,
        agent_app,
        auto_model,
        build_agent,
        build_runtime,
        build_runtimes,
        open_sessions,
        open_store,
    )
    from agenthost.config.kinds import (
        AgentBuilder,
        AgentKindConfig,
        AgentKindSpec,
        agent_kinds,
        register_agent_kind,
    )
    from agenthost.config.kinds.adapters import (
        ADKAgentConfig,
        AgentScopeAgentConfig,
        LangGraphAgentConfig,
        OpenAIAgentsAgentConfig,
        PydanticAIAgentConfig,
    )
    from agenthost.config.kinds.composition import (
        ChainAgentConfig,
        LoopAgentConfig,
        ParallelAgentConfig,
        TransferAgentConfig,
    )
    from agenthost.config.kinds.llm import LLMAgentConfig
    from agenthost.config.kinds.platforms import (
        A2AAgentConfig,
        BailianAgentConfig,
        CozeAgentConfig,
        DifyAgentConfig,
    )
    from agenthost.config.kinds.plugin import PluginAgentConfig
    from agenthost.config.loader import load_config, parse_config
    from agenthost.config.paths import home_dir
    from agenthost.config.schema import (
        AgentConfig,
        AgentHostConfig,
        ModelConfig,
        ModelSettingsConfig,
        PriceConfig,
        ProviderConfig,
        RunnerConfig,
        ServerConfig,
        StoreConfig,
    )

_LAZY = {
    "AgentBuilder": "kinds",
    "AgentKindConfig": "kinds",
    "AgentKindSpec": "kinds",
    "agent_kinds": "kinds",
    "register_agent_kind": "kinds",
    "LLMAgentConfig": "kinds.llm",
    "DifyAgentConfig": "kinds.platforms",
    "CozeAgentConfig": "kinds.platforms",
    "BailianAgentConfig": "kinds.platforms",
    "A2AAgentConfig": "kinds.platforms",
    "PluginAgentConfig": "kinds.plugin",
    "ChainAgentConfig": "kinds.composition",
    "ParallelAgentConfig": "kinds.composition",
    "LoopAgentConfig": "kinds.composition",
    "TransferAgentConfig": "kinds.composition",
    "PydanticAIAgentConfig": "kinds.adapters",
    "LangGraphAgentConfig": "kinds.adapters",
    "OpenAIAgentsAgentConfig": "kinds.adapters",
    "ADKAgentConfig": "kinds.adapters",
    "AgentScopeAgentConfig": "kinds.adapters",
    "build_agent": "build",
    "AgentConfig": "schema",
    "AgentHostConfig": "schema",
    "ModelConfig": "schema",
    "ModelSettingsConfig": "schema",
    "PriceConfig": "schema",
    "ProviderConfig": "schema",
    "RunnerConfig": "schema",
    "ServerConfig": "schema",
    "StoreConfig": "schema",
    "load_config": "loader",
    "parse_config": "loader",
    "home_dir": "paths",
    "Runtime": "build",
    "agent_app": "build",
    "auto_model": "build",
    "build_runtime": "build",
    "build_runtimes": "build",
    "open_sessions": "build",
    "open_store": "build",
}

__all__ = [
    "A2AAgentConfig",
    "ADKAgentConfig",
    "AgentBuilder",
    "AgentConfig",
    "AgentHostConfig",
    "AgentKindConfig",
    "AgentKindSpec",
    "AgentScopeAgentConfig",
    "BailianAgentConfig",
    "ChainAgentConfig",
    "CozeAgentConfig",
    "DifyAgentConfig",
    "LLMAgentConfig",
    "LangGraphAgentConfig",
    "LoopAgentConfig",
    "ModelConfig",
    "ModelSettingsConfig",
    "OpenAIAgentsAgentConfig",
    "ParallelAgentConfig",
    "PluginAgentConfig",
    "PriceConfig",
    "ProviderConfig",
    "PydanticAIAgentConfig",
    "RunnerConfig",
    "Runtime",
    "ServerConfig",
    "StoreConfig",
    "TransferAgentConfig",
    "agent_app",
    "agent_kinds",
    "auto_model",
    "build_agent",
    "build_runtime",
    "build_runtimes",
    "home_dir",
    "load_config",
    "open_sessions",
    "open_store",
    "parse_config",
    "register_agent_kind",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"agenthost.config.{module}"), name)
