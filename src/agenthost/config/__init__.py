"""Config: `agenthost.yaml` -> `AgentHostConfig` -> `build_runtime(config)` -> a Runner.

    from agenthost.config import AgentConfig, AgentHostConfig, build_runtime, load_config

    config = load_config("agenthost.yaml")          # or AgentHostConfig(agents={...}) in code
    async with build_runtime(config, agent="helper") as rt:
        async for event in rt.runner.run("alice", None, "hello"):
            ...

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
        build_runtime,
        build_runtimes,
        open_sessions,
        open_store,
    )
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
    "AgentConfig",
    "AgentHostConfig",
    "ModelConfig",
    "ModelSettingsConfig",
    "PriceConfig",
    "ProviderConfig",
    "RunnerConfig",
    "Runtime",
    "ServerConfig",
    "StoreConfig",
    "agent_app",
    "auto_model",
    "build_runtime",
    "build_runtimes",
    "home_dir",
    "load_config",
    "open_sessions",
    "open_store",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"agenthost.config.{module}"), name)
