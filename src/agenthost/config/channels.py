"""The `channels:` section of agenthost.yaml (run by `agenthost channels run` and `serve`).

    channels:
      agent: assistant                 # default: the default agent
      inputs:
        daily: {type: cron, schedule: "0 9 * * *", timezone: Europe/Paris,
                prompt: "Summarize the news.", reply_to: hook}
        web:   {type: webhook, port: 8081, secret_env: WEBHOOK_SECRET, reply_to: hook}
      outputs:
        hook:  {type: webhook, url: "https://example.com/replies", secret_env: HOOK_SECRET}
        console: {type: stdout}
      routes:
        - {inputs: [daily], outputs: [console]}
      concurrency: 32
      queue_size: 1000

Each input and output entry is the config struct of its `type`, from the registry below
(`channel_types()`); a setting that type does not take is an error naming it. A platform client
adds its struct here and one registry line naming its builder, `package.module:function`
(`build(name, config) -> client`), imported only when the channels are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from agenthost.config._types import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
)


class ConfigStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """As config/_types.py's ConfigStruct, declared here so linters see a msgspec Struct."""


Direction = Literal["input", "output"]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ChannelInputConfig(ConfigStruct, kw_only=True):
    """Base of every input entry: `type`, and `reply_to` (the output its replies go back
    to; default: the output of the same name, if any)."""

    type: str = ""
    reply_to: str | None = None


class ChannelOutputConfig(ConfigStruct, kw_only=True):
    """Base of every output entry: `type`."""

    type: str = ""


class CronInputConfig(ChannelInputConfig, kw_only=True):
    type: Literal["cron"] = "cron"
    schedule: str
    prompt: str
    timezone: str = "UTC"
    conversation: str | None = None


class WebhookInputConfig(ChannelInputConfig, kw_only=True):
    type: Literal["webhook"] = "webhook"
    secret: str | None = None
    secret_env: str | None = None
    host: str = "127.0.0.1"
    port: Port = 8080
    path: str = "/"
    max_body_bytes: PositiveInt = 1_048_576
    tolerance: PositiveFloat = 300.0
    insecure: bool = False

    def __repr__(self) -> str:
        return f"WebhookInputConfig(host={self.host!r}, port={self.port}, secret=***)"


class StdinInputConfig(ChannelInputConfig, kw_only=True):
    type: Literal["stdin"] = "stdin"
    conversation: str = "stdin"
    format: Literal["text", "json"] = "text"
    stop_at_eof: bool = False


class WebhookOutputConfig(ChannelOutputConfig, kw_only=True):
    type: Literal["webhook"] = "webhook"
    url: str
    secret: str | None = None
    secret_env: str | None = None
    headers: dict[str, str] = {}
    timeout: PositiveFloat = 10.0
    max_chars: PositiveInt | None = None

    def __repr__(self) -> str:
        return f"WebhookOutputConfig(url={self.url!r}, secret=***)"


class StdoutOutputConfig(ChannelOutputConfig, kw_only=True):
    type: Literal["stdout"] = "stdout"
    format: Literal["text", "json"] = "text"


# Chat platforms: the token is read from the variable `token_env` names (never the file);
# `base_url` points at a self-hosted API server (Telegram) or a test fake.
class TelegramInputConfig(ChannelInputConfig, kw_only=True):
    type: Literal["telegram"] = "telegram"
    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = "https://api.telegram.org"
    poll_timeout: PositiveInt = 30
    require_mention: bool = True
    max_attachment_bytes: PositiveInt = 10 * 1024 * 1024
    webhook_url: str | None = None  # set: a webhook instead of long polling
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    host: str = "127.0.0.1"
    port: Port = 8443
    path: str = "/telegram"


class TelegramOutputConfig(ChannelOutputConfig, kw_only=True):
    type: Literal["telegram"] = "telegram"
    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = "https://api.telegram.org"
    edit_interval: PositiveFloat | None = 1.0
    max_chars: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 4096
    parse_mode: str | None = None


class DiscordInputConfig(ChannelInputConfig, kw_only=True):
    type: Literal["discord"] = "discord"
    token_env: str = "DISCORD_BOT_TOKEN"
    base_url: str = "https://discord.com/api/v10"
    gateway_url: str | None = None
    require_mention: bool = True


class DiscordOutputConfig(ChannelOutputConfig, kw_only=True):
    type: Literal["discord"] = "discord"
    token_env: str = "DISCORD_BOT_TOKEN"
    base_url: str = "https://discord.com/api/v10"
    edit_interval: PositiveFloat | None = 1.0
    max_chars: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 2000


class SlackInputConfig(ChannelInputConfig, kw_only=True):
    type: Literal["slack"] = "slack"
    token_env: str = "SLACK_BOT_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    base_url: str = "https://slack.com/api"
    host: str = "127.0.0.1"
    port: Port = 3000
    path: str = "/slack/events"
    require_mention: bool = True
    max_attachment_bytes: PositiveInt = 10 * 1024 * 1024


class SlackOutputConfig(ChannelOutputConfig, kw_only=True):
    type: Literal["slack"] = "slack"
    token_env: str = "SLACK_BOT_TOKEN"
    base_url: str = "https://slack.com/api"
    edit_interval: PositiveFloat | None = 1.5
    max_chars: Annotated[int, msgspec.Meta(ge=1, le=40_000)] = 4000


class XOutputConfig(ChannelOutputConfig, kw_only=True):
    type: Literal["x"] = "x"
    token_env: str = "X_USER_TOKEN"
    base_url: str = "https://api.x.com"
    max_chars: Annotated[int, msgspec.Meta(ge=1, le=280)] = 280


class RouteConfig(ConfigStruct, kw_only=True):
    """Replies of the messages of `inputs` (all when empty) also go to `outputs`; `target`
    replaces the conversation id there; `origin: false` stops the reply to the origin."""

    outputs: list[str]
    inputs: list[str] = []
    target: str | None = None
    origin: bool = True


class RetryConfig(ConfigStruct, kw_only=True):
    max_attempts: PositiveInt = 8
    base: PositiveFloat = 0.5
    max_delay: PositiveFloat = 60.0


class ChannelsConfig(ConfigStruct, kw_only=True):
    """The whole section (see the module doc); limits apply to every incoming message."""

    agent: str | None = None
    inputs: dict[str, ChannelInputConfig] = {}
    outputs: dict[str, ChannelOutputConfig] = {}
    routes: list[RouteConfig] = []
    concurrency: PositiveInt = 32
    queue_size: PositiveInt = 1000
    grace: NonNegativeFloat = 30.0
    flush_timeout: NonNegativeFloat = 10.0
    max_text_chars: PositiveInt = 16_000
    max_attachments: int = 8
    max_attachment_bytes: PositiveInt = 10 * 1024 * 1024
    attachment_types: list[str] = msgspec.field(
        default_factory=lambda: ["image/", "text/", "application/pdf"]
    )
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    error_reply: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelTypeSpec:
    """A registry entry: direction, `type:` name, config struct, builder ('module:function')."""

    direction: Direction
    name: str
    config: type[ChannelInputConfig] | type[ChannelOutputConfig]
    build: str
    summary: str


_TYPES: dict[tuple[Direction, str], ChannelTypeSpec] = {}


def register_channel_type(spec: ChannelTypeSpec) -> None:
    """Add (or replace) an input or output type."""
    _TYPES[(spec.direction, spec.name)] = spec


def channel_types(direction: Direction) -> dict[str, ChannelTypeSpec]:
    return {name: spec for (d, name), spec in _TYPES.items() if d == direction}


_PLATFORM_CONFIGS: dict[tuple[str, str], type[ChannelInputConfig] | type[ChannelOutputConfig]] = {
    ("input", "telegram"): TelegramInputConfig,
    ("output", "telegram"): TelegramOutputConfig,
    ("input", "discord"): DiscordInputConfig,
    ("output", "discord"): DiscordOutputConfig,
    ("input", "slack"): SlackInputConfig,
    ("output", "slack"): SlackOutputConfig,
    ("output", "x"): XOutputConfig,
}
_B = "agenthost.channels._build"
for _spec in (
    ChannelTypeSpec(
        direction="input",
        name="cron",
        config=CronInputConfig,
        build=f"{_B}:cron_input",
        summary="a cron expression with a time zone; each tick sends `prompt`",
    ),
    ChannelTypeSpec(
        direction="input",
        name="webhook",
        config=WebhookInputConfig,
        build=f"{_B}:webhook_input",
        summary="an HTTP endpoint taking signed JSON messages (HMAC-SHA256)",
    ),
    ChannelTypeSpec(
        direction="input",
        name="stdin",
        config=StdinInputConfig,
        build=f"{_B}:stdin_input",
        summary="lines of standard input",
    ),
    ChannelTypeSpec(
        direction="output",
        name="webhook",
        config=WebhookOutputConfig,
        build=f"{_B}:webhook_output",
        summary="POSTs each reply as signed JSON to a URL",
    ),
    ChannelTypeSpec(
        direction="output",
        name="stdout",
        config=StdoutOutputConfig,
        build=f"{_B}:stdout_output",
        summary="writes each reply to standard output",
    ),
):
    register_channel_type(_spec)

for _platform, _summary, _directions in (
    ("telegram", "a Telegram bot (Bot API: long polling; sendMessage, edits)", ("input", "output")),
    ("discord", "a Discord bot (Gateway websocket; REST messages, edits)", ("input", "output")),
    (
        "slack",
        "a Slack app (Events API over HTTP; chat.postMessage, chat.update)",
        ("input", "output"),
    ),
    ("x", "posts on X (API v2 /2/tweets; long replies as a thread)", ("output",)),
):
    for _direction in _directions:
        register_channel_type(
            ChannelTypeSpec(
                direction=_direction,  # type: ignore[arg-type]
                name=_platform,
                config=_PLATFORM_CONFIGS[(_direction, _platform)],
                build=f"agenthost.channels.{_platform}:build_{_direction}",
                summary=_summary,
            )
        )
