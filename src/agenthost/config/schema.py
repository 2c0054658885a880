"""The `agenthost.yaml` format, as msgspec Structs.

Every struct forbids unknown fields, so a typo is an error naming the field and its path
(`agents.helper.modle: unknown field; did you mean 'model'?`). The same objects are the Python
API: build an `AgentHostConfig` in code and pass it to `build_runtime`.

    app: my-app                              # sessions are kept per app and user
    store: sqlite:///./agenthost.db          # or {url, max_events, ttl_seconds}
    providers:                               # OpenAI-compatible endpoints (and overrides)
      myvllm: {base_url: "http://127.0.0.1:8000/v1", api_key_env: MYVLLM_KEY}
    models:                                  # aliases with fallbacks and settings
      fast: {model: "openai:gpt-4o-mini", fallbacks: ["deepseek:deepseek-chat"]}
    mcp_servers:                             # MCP tool servers (stdio or streamable HTTP)
      time: {command: mcp-server-time}
    agents:
      helper: {model: fast, instructions: "Be brief.", tools: ["demo:*"]}
    default_agent: helper
    runner: {busy_policy: queue, timeout: 300}
    server: {host: 127.0.0.1, port: 8000, api_keys: ["${MY_KEY}:alice"]}   # `agenthost serve`
    channels: {inputs: {...}, outputs: {...}, routes: [...]}   # config/channels.py

Each agent entry is decoded with the config struct of its `kind` (default `llm`), taken from
the registry of agent kinds (`config/kinds/`): a setting that kind does not take is an error.

String values may use `${VAR}` and `${VAR:-default}` (see `loader.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from agenthost.config._budgets import BudgetsConfig, LimitsConfig, PricingConfig, UsageConfig
from agenthost.config._types import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    suggestion,
)
from agenthost.config.channels import ChannelsConfig
from agenthost.config.kinds._base import AgentKindConfig
from agenthost.config.kinds.llm import LLMAgentConfig
from agenthost.config.knowledge import KnowledgeBaseConfig, KnowledgeConfig
from agenthost.config.mcp import McpServerConfig
from agenthost.core.errors import ConfigError

AgentKind = str  # a registered kind's name (agenthost.config.kinds.agent_kinds())
AgentConfig = LLMAgentConfig  # the default kind's config, by its former name
BusyPolicy = Literal["queue", "reject", "interrupt"]
ToolChoice = Literal["auto", "none", "required"]
OnDisconnect = Literal["continue", "cancel"]
Transport = Literal["auto", "aiohttp", "lean"]  # backends.common.transport.TransportKind
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]

DEFAULT_AGENT = "assistant"
DEMO_TOOLS = "demo:*"
DEMO_INSTRUCTIONS = (
    "You are a helpful assistant. You can get the weather in a city (get_weather), do "
    "arithmetic (calculator), tell the time in a time zone (get_time) and search the user's "
    "notes (search_notes). Use a tool when it helps, then answer briefly."
)


class _Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """As ConfigStruct (config/_types.py), declared here so linters see a msgspec Struct."""


class PriceConfig(_Struct):
    """USD per one million tokens."""

    input_per_mtok: NonNegativeFloat
    output_per_mtok: NonNegativeFloat


class ProviderConfig(_Struct):
    """An OpenAI-compatible endpoint, or an override of a known provider (`openai`, ...).

    The key comes from `api_key`, else the variable named by `api_key_env`, else
    `<NAME>_API_KEY`; the URL from `base_url`, else `<NAME>_BASE_URL`, else the provider's
    default. `options` go to the embedded model's factory (provider `local`). `transport`: the
    HTTP client (`auto`: the lean one unless a proxy variable applies, then aiohttp);
    `ca_file`: a PEM file of the CAs to trust for https (a private CA, a self-signed server).
    """

    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = None
    prices: dict[str, PriceConfig] = {}
    timeout: PositiveFloat | None = None
    headers: dict[str, str] = {}
    options: dict[str, Any] = {}
    transport: Transport = "auto"
    ca_file: str | None = None

    def __repr__(self) -> str:  # never show the key
        key = None if self.api_key is None else "***"
        return f"ProviderConfig(base_url={self.base_url!r}, api_key={key})"


class ModelSettingsConfig(_Struct):
    temperature: NonNegativeFloat | None = None
    max_tokens: PositiveInt | None = None
    timeout: PositiveFloat | None = None
    tool_choice: ToolChoice | None = None
    extra: dict[str, Any] = {}  # vendor-only request body fields


class ModelConfig(_Struct):
    """A model alias: a `provider:model` id, its fallbacks (ids or aliases) and settings.
    `input` lists what the model takes (text always; image, file: see docs/multimodal.md);
    `unsupported_input` is what happens to the rest: an `error` (model_input_unsupported) or
    a line of `text` naming each attachment."""

    model: str
    fallbacks: list[str] = []
    settings: ModelSettingsConfig | None = None
    input: list[Literal["text", "image", "file"]] | None = None
    unsupported_input: Literal["error", "text"] | None = None


class StoreConfig(_Struct):
    """The session store by URL (`memory://`, `sqlite:///path.db`, ...); no URL means
    `sqlite:///$AGENTHOST_HOME/agenthost.db`."""

    url: str | None = None
    max_events: PositiveInt | None = None
    ttl_seconds: PositiveFloat | None = None


class ArtifactsConfig(_Struct):
    """Where sessions' files are kept, by URL (`file:///dir`, `sqlite:///path.db`,
    `postgresql://...`, `mysql://...`, `memory://`); no URL means the store that follows
    `store.url` (its SQLite file, its database, memory; config/store_urls.py), or
    `file://$AGENTHOST_HOME/artifacts` without one. See docs/artifacts.md."""

    url: str | None = None


class RunnerConfig(_Struct):
    busy_policy: BusyPolicy = "queue"
    timeout: PositiveFloat | None = None  # seconds per run


class ClusterConfig(_Struct):
    """Several processes over one store (docs/deploy.md, "From one process to a cluster").

    `leases`: `auto` takes the session leases of a store that has them (Postgres, MySQL,
    Redis: a session runs in one process at a time across replicas), `local` keeps the
    process-local locks (one process only). `lease_seconds`: how long a dead process keeps
    its sessions before another may close its runs. `events`: a Redis URL for run event
    streams and cancel signals (any replica streams, resumes and cancels any run; env
    AGENTHOST_EVENTS_URL). `broker`: the Celery broker of background runs (`amqp://...` or
    `redis://...`; env AGENTHOST_BROKER_URL), `queue` its queue name, `visibility_timeout`
    the seconds before a Redis broker redelivers the task of a worker that died.
    `worker_after_run`: 'package.module:attribute' refs to the after-run hooks of
    `agenthost worker` (a callable `(request, terminal_event)`, or a list of them; the
    worker's `--after-run` adds more).
    """

    leases: Literal["auto", "local"] = "auto"
    lease_seconds: PositiveFloat = 20.0
    events: str | None = None
    broker: str | None = None
    queue: str = "agenthost"
    visibility_timeout: PositiveFloat = 3600.0
    worker_after_run: list[str] = []


class ServerConfig(_Struct):
    """`agenthost serve` and `create_app()` (see docs/server.md).

    `api_keys` entries are `KEY:USER`, `KEY:USER@admin` or `sha256:HEX:USER[@admin]`; the
    environment variable AGENTHOST_API_KEYS adds more (comma-separated). No key at all is local
    development mode: the server binds 127.0.0.1 only. `on_disconnect` is what happens to a
    run whose streaming client went away: it `continue`s in the background (all its events
    are stored), or it is `cancel`led.
    """

    host: str = "127.0.0.1"
    port: Port = 8000
    api_keys: list[str] = []
    cors_origins: list[str] = []
    max_body_bytes: PositiveInt = 1_048_576
    max_headers: PositiveInt = 100  # header lines of a request; more is a 431
    max_header_bytes: PositiveInt = 32768  # request line + headers; more is a 431
    allowed_hosts: list[str] = []  # Host names served without keys, beyond loopback names
    on_disconnect: OnDisconnect = "continue"
    shutdown_grace: NonNegativeFloat = 30.0
    replay_buffer: PositiveInt = 1024  # events of an active run kept for Last-Event-ID

    def __repr__(self) -> str:  # never show the keys
        return (
            f"ServerConfig(host={self.host!r}, port={self.port}, "
            f"api_keys=[{len(self.api_keys)} hidden])"
        )


def default_agent_config() -> LLMAgentConfig:
    """The built-in demo agent: the demo tools, its model chosen from the environment."""
    return LLMAgentConfig(instructions=DEMO_INSTRUCTIONS, tools=[DEMO_TOOLS])


class AgentHostConfig(_Struct):
    """The whole file. With no `agents`, the built-in demo agent 'assistant' is used."""

    app: str = "agenthost"
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    artifacts: ArtifactsConfig = msgspec.field(default_factory=ArtifactsConfig)
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    mcp_servers: dict[str, McpServerConfig] = {}  # see config/mcp.py and docs/tools.md
    knowledge: KnowledgeConfig = msgspec.field(default_factory=KnowledgeConfig)
    knowledge_bases: dict[str, KnowledgeBaseConfig] = {}  # see docs/knowledge.md
    agents: dict[str, AgentKindConfig] = {}
    default_agent: str | None = None
    runner: RunnerConfig = msgspec.field(default_factory=RunnerConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    channels: ChannelsConfig | None = None  # see config/channels.py and docs/channels.md
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    budgets: BudgetsConfig | None = None  # shared by all agents (docs/pricing.md)
    usage: UsageConfig = msgspec.field(default_factory=UsageConfig)

    def effective_agents(self) -> dict[str, AgentKindConfig]:
        return self.agents or {DEFAULT_AGENT: default_agent_config()}

    def default_agent_name(self) -> str:
        """`default_agent`, else the only agent, else 'assistant' if declared."""
        agents = self.effective_agents()
        if self.default_agent is not None:
            return self.default_agent
        if len(agents) == 1:
            return next(iter(agents))
        if DEFAULT_AGENT in agents:
            return DEFAULT_AGENT
        raise ConfigError(
            f"Several agents are declared ({', '.join(agents)}) and no default_agent. "
            "Set default_agent in the config file (or AGENTHOST_DEFAULT_AGENT), or pick one "
            "with --agent."
        )

    def select_agent(self, name: str | None = None) -> tuple[str, AgentKindConfig]:
        """The agent called `name` (the default agent when None), with its config."""
        agents = self.effective_agents()
        chosen = name if name is not None else self.default_agent_name()
        found = agents.get(chosen)
        if found is None:
            raise ConfigError(
                f"Unknown agent {chosen!r}{suggestion(chosen, list(agents)) or '.'} "
                f"Agents: {', '.join(agents)}."
            )
        return chosen, found


__all__ = [
    "DEFAULT_AGENT",
    "DEMO_INSTRUCTIONS",
    "AgentConfig",
    "AgentHostConfig",
    "AgentKind",
    "AgentKindConfig",
    "BudgetsConfig",
    "BusyPolicy",
    "KnowledgeBaseConfig",
    "KnowledgeConfig",
    "LLMAgentConfig",
    "LimitsConfig",
    "ModelConfig",
    "ModelSettingsConfig",
    "PriceConfig",
    "PricingConfig",
    "ProviderConfig",
    "RunnerConfig",
    "ServerConfig",
    "StoreConfig",
    "UsageConfig",
    "default_agent_config",
    "suggestion",
]
