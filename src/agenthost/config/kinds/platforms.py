"""`kind: dify | coze | bailian | a2a`: agents whose loop runs on a remote platform (see
docs/agents.md). Settings left out take the client's defaults; `api_key_env` names the
environment variable holding the key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from agenthost.config._types import NonNegativeFloat, NonNegativeInt, PositiveFloat, Problem
from agenthost.config._validate import tool_ref_problems
from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec

if TYPE_CHECKING:
    from agenthost.config.kinds._builder import AgentBuilder
    from agenthost.config.schema import AgentHostConfig
    from agenthost.ports.protocol import Agent

ORDER = 10

UserFrom = Literal["user_id", "session_id"]


class _RemoteConfig(AgentKindConfig):
    api_key: str | None = None
    api_key_env: str | None = None
    timeout: PositiveFloat | None = None
    connect_timeout: PositiveFloat | None = None
    idle_timeout: PositiveFloat | None = None
    retries: NonNegativeInt | None = None
    max_retry_after: NonNegativeFloat | None = None
    state_key: str | None = None

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        if self.api_key is not None and self.api_key_env is not None:
            return [(("api_key_env",), "set api_key_env or api_key, not both")]
        return []


class _PlatformConfig(_RemoteConfig):
    base_url: str | None = None
    stop_timeout: PositiveFloat | None = None


class DifyAgentConfig(_PlatformConfig):
    """A Dify app (chat, agent or chatflow)."""

    kind: Literal["dify"] = "dify"
    user_from: UserFrom | None = None
    inputs: dict[str, Any] | None = None
    auto_generate_name: bool | None = None


class CozeAgentConfig(_PlatformConfig):
    """A published Coze bot; `tools` answer the bot's local tool calls."""

    kind: Literal["coze"] = "coze"
    bot_id: str | None = None
    user_from: UserFrom | None = None
    custom_variables: dict[str, str] | None = None
    auto_save_history: bool | None = None
    tools: list[str] = msgspec.field(default_factory=list)
    tool_timeout: PositiveFloat | None = None

    def problems(self, config: AgentHostConfig) -> list[Problem]:
        return [*super().problems(config), *tool_ref_problems(self.tools)]


class BailianAgentConfig(_PlatformConfig):
    """An Alibaba Cloud Model Studio (Bailian) application."""

    kind: Literal["bailian"] = "bailian"
    app_id: str | None = None
    region: Literal["cn", "intl"] | None = None
    biz_params: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None


class A2AAgentConfig(_RemoteConfig):
    """A remote agent that speaks A2A, by its agent card (or base) URL."""

    kind: Literal["a2a"] = "a2a"
    card_url: str | None = None
    headers: dict[str, str] | None = None
    cancel_timeout: PositiveFloat | None = None


def _settings(name: str, config: _RemoteConfig, builder: AgentBuilder) -> dict[str, Any]:
    """The fields that are set, as the client's keyword arguments."""
    skip = {"kind", "description", "api_key", "api_key_env", "tools"}
    settings = {
        f: getattr(config, f)
        for f in config.__struct_fields__
        if f not in skip and getattr(config, f) is not None
    }
    api_key = builder.api_key(name, config.api_key, config.api_key_env)
    if api_key is not None:
        settings["api_key"] = api_key
    return settings


def _builder(class_name: str) -> Any:
    def build(name: str, config: _RemoteConfig, builder: AgentBuilder) -> Agent:
        import agenthost.backends.agents as agents

        settings = _settings(name, config, builder)
        if isinstance(config, CozeAgentConfig) and config.tools:
            settings["tools"] = builder.tools(name, config.tools)
        cls = getattr(agents, class_name)
        made: Agent = builder.construct(
            name, cls, name=name, description=config.description, **settings
        )
        return made

    return build


_TABLE: list[tuple[str, type[_RemoteConfig], str, str]] = [
    ("dify", DifyAgentConfig, "DifyAgent", "a Dify app (chat, agent or chatflow)"),
    ("coze", CozeAgentConfig, "CozeAgent", "a published Coze bot"),
    ("bailian", BailianAgentConfig, "BailianAgent", "a Bailian (Model Studio) application"),
    ("a2a", A2AAgentConfig, "A2AAgent", "a remote agent that speaks A2A"),
]
KINDS = [
    AgentKindSpec(name=kind, config=struct, build=_builder(cls), summary=summary)
    for kind, struct, cls, summary in _TABLE
]

__all__ = ["A2AAgentConfig", "BailianAgentConfig", "CozeAgentConfig", "DifyAgentConfig"]
