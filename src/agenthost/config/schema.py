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
    agents:
      helper: {model: fast, instructions: "Be brief.", tools: ["demo:*"]}
    default_agent: helper
    runner: {busy_policy: queue, timeout: 300}
    server: {host: 127.0.0.1, port: 8000, api_keys: ["${MY_KEY}:alice"]}   # `agenthost serve`

String values may use `${VAR}` and `${VAR:-default}` (see `loader.py`).
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Annotated, Any, Literal

import msgspec

from agenthost.core.errors import ConfigError

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]

AgentKind = Literal["llm", "dify", "coze", "bailian", "a2a", "plugin"]
BusyPolicy = Literal["queue", "reject", "interrupt"]
ToolChoice = Literal["auto", "none", "required"]
OnDisconnect = Literal["continue", "cancel"]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]

DEFAULT_AGENT = "assistant"
DEMO_TOOLS = "demo:*"
DEMO_INSTRUCTIONS = (
    "You are a helpful assistant. You can get the weather in a city (get_weather), do "
    "arithmetic (calculator), tell the time in a time zone (get_time) and search the user's "
    "notes (search_notes). Use a tool when it helps, then answer briefly."
)


def suggestion(value: str, known: list[str] | tuple[str, ...]) -> str:
    """'; did you mean 'x'?' when a known value is close to `value`, else ''."""
    match = get_close_matches(value, list(known), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


class _Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class PriceConfig(_Struct):
    """USD per one million tokens."""

    input_per_mtok: NonNegativeFloat
    output_per_mtok: NonNegativeFloat


class ProviderConfig(_Struct):
    """An OpenAI-compatible endpoint, or an override of a known provider (`openai`, ...).

    The key comes from `api_key`, else the variable named by `api_key_env`, else
    `<NAME>_API_KEY`; the URL from `base_url`, else `<NAME>_BASE_URL`, else the provider's
    default. `options` go to the embedded model's factory (provider `local`).
    """

    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = None
    prices: dict[str, PriceConfig] = {}
    timeout: PositiveFloat | None = None
    headers: dict[str, str] = {}
    options: dict[str, Any] = {}

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
    """A model alias: a `provider:model` id, its fallbacks (ids or aliases) and settings."""

    model: str
    fallbacks: list[str] = []
    settings: ModelSettingsConfig | None = None


class AgentConfig(_Struct):
    """One agent. `model` is an alias from `models:` or a `provider:model` id; unset, it is
    chosen from the environment (AGENTHOST_MODEL, then OPENAI_API_KEY, then the embedded
    model). `tools` are 'package.module:function' refs, 'package.module:*' for every tool
    of a module, or 'demo:...' for the demo tools."""

    kind: AgentKind = "llm"
    model: str | None = None
    description: str = ""
    instructions: str = ""
    tools: list[str] = []
    max_tool_rounds: NonNegativeInt = 10
    parallel_tools: bool = True
    tool_timeout: PositiveFloat | None = 60.0
    max_tool_result_chars: PositiveInt | None = 20_000
    history_max_messages: PositiveInt | None = None
    history_max_tokens: PositiveInt | None = None
    stream: bool = True
    # ---- remote platforms (kind dify, coze, bailian; see docs/agents.md) ----
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    user_from: Literal["user_id", "session_id"] | None = None
    timeout: PositiveFloat | None = None
    connect_timeout: PositiveFloat | None = None
    idle_timeout: PositiveFloat | None = None
    stop_timeout: PositiveFloat | None = None
    state_key: str | None = None
    inputs: dict[str, Any] | None = None  # dify
    auto_generate_name: bool | None = None  # dify
    bot_id: str | None = None  # coze
    custom_variables: dict[str, str] | None = None  # coze
    auto_save_history: bool | None = None  # coze
    app_id: str | None = None  # bailian
    region: Literal["cn", "intl"] | None = None  # bailian
    biz_params: dict[str, Any] | None = None  # bailian
    parameters: dict[str, Any] | None = None  # bailian
    card_url: str | None = None  # a2a: the remote agent's card (or base) URL
    headers: dict[str, str] | None = None  # a2a
    cancel_timeout: PositiveFloat | None = None  # a2a
    command: list[str] | None = None  # plugin: the process to start (stdio JSON-RPC)
    url: str | None = None  # plugin: or a plugin served over HTTP
    cwd: str | None = None  # plugin
    env: dict[str, str] | None = None  # plugin: extra environment for its process
    inherit_env: bool | None = None  # plugin: pass the host's whole environment
    allowed_permissions: dict[str, Any] | None = None  # plugin: what it may ask for
    start_timeout: PositiveFloat | None = None  # plugin

    def platform_settings(self) -> dict[str, Any]:
        """The remote-platform fields that are set, by name."""
        return {f: getattr(self, f) for f in PLATFORM_FIELDS if getattr(self, f) is not None}


_COMMON_PLATFORM = ("base_url", "api_key", "timeout", "connect_timeout", "idle_timeout")
PLATFORM_FIELDS: tuple[str, ...] = (
    *_COMMON_PLATFORM,
    "api_key_env",
    "user_from",
    "stop_timeout",
    "state_key",
    "inputs",
    "auto_generate_name",
    "bot_id",
    "custom_variables",
    "auto_save_history",
    "app_id",
    "region",
    "biz_params",
    "parameters",
    "card_url",
    "headers",
    "cancel_timeout",
    "command",
    "url",
    "cwd",
    "env",
    "inherit_env",
    "allowed_permissions",
    "start_timeout",
)
# which platform fields each kind takes (besides api_key_env, read into api_key)
KIND_FIELDS: dict[str, frozenset[str]] = {
    "llm": frozenset(),
    "dify": frozenset(
        {
            *_COMMON_PLATFORM,
            "user_from",
            "stop_timeout",
            "state_key",
            "inputs",
            "auto_generate_name",
        }
    ),
    "coze": frozenset(
        {
            *_COMMON_PLATFORM,
            "user_from",
            "stop_timeout",
            "state_key",
            "bot_id",
            "custom_variables",
            "auto_save_history",
        }
    ),
    "bailian": frozenset(
        {*_COMMON_PLATFORM, "state_key", "app_id", "region", "biz_params", "parameters"}
    ),
    "plugin": frozenset(
        {
            "command",
            "url",
            "cwd",
            "env",
            "inherit_env",
            "headers",
            "allowed_permissions",
            "timeout",
            "start_timeout",
        }
    ),
    "a2a": frozenset(
        {
            "card_url",
            "api_key",
            "headers",
            "timeout",
            "connect_timeout",
            "idle_timeout",
            "cancel_timeout",
            "state_key",
        }
    ),
}


class StoreConfig(_Struct):
    """The session store by URL (`memory://`, `sqlite:///path.db`, ...); no URL means
    `sqlite:///$AGENTHOST_HOME/agenthost.db`."""

    url: str | None = None
    max_events: PositiveInt | None = None
    ttl_seconds: PositiveFloat | None = None


class RunnerConfig(_Struct):
    busy_policy: BusyPolicy = "queue"
    timeout: PositiveFloat | None = None  # seconds per run


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


def default_agent_config() -> AgentConfig:
    """The built-in demo agent: the demo tools, its model chosen from the environment."""
    return AgentConfig(instructions=DEMO_INSTRUCTIONS, tools=[DEMO_TOOLS])


class AgentHostConfig(_Struct):
    """The whole file. With no `agents`, the built-in demo agent 'assistant' is used."""

    app: str = "agenthost"
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    agents: dict[str, AgentConfig] = {}
    default_agent: str | None = None
    runner: RunnerConfig = msgspec.field(default_factory=RunnerConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)

    def effective_agents(self) -> dict[str, AgentConfig]:
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
            f"Set default_agent in agenthost.yaml or pick one with --agent."
        )

    def select_agent(self, name: str | None = None) -> tuple[str, AgentConfig]:
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
    "BusyPolicy",
    "ModelConfig",
    "ModelSettingsConfig",
    "PriceConfig",
    "ProviderConfig",
    "RunnerConfig",
    "ServerConfig",
    "StoreConfig",
    "default_agent_config",
    "suggestion",
]
