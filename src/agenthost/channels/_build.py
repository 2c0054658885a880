"""The `channels:` section of a config as client objects and a ChannelRuntime.

Each registered type (config/channels.py) names its builder here, as
`agenthost.channels._build:<function>`; a platform client names its own module's.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from agenthost.channels._delivery import DeliveryRetry
from agenthost.channels.base import InputClient, OutputClient
from agenthost.channels.routing import Route
from agenthost.channels.runtime import DEFAULT_ERROR_REPLY, ChannelRuntime
from agenthost.channels.validation import MessageLimits
from agenthost.config.channels import (
    ChannelsConfig,
    CronInputConfig,
    StdinInputConfig,
    StdoutOutputConfig,
    WebhookInputConfig,
    WebhookOutputConfig,
    channel_types,
)
from agenthost.core.errors import ConfigError
from agenthost.engine.runner import Runner


def secret_of(where: str, secret: str | None, env: str | None) -> str | None:
    """`secret`, else the variable named by `env` (an error when it is unset)."""
    if secret:
        return secret
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{where}.secret_env: the variable {env} is not set.")
        return value
    return None


def cron_input(name: str, config: CronInputConfig) -> InputClient:
    from agenthost.channels.cron import CronInput

    return CronInput(
        name=name,
        schedule=config.schedule,
        prompt=config.prompt,
        timezone=config.timezone,
        conversation=config.conversation,
    )


def webhook_input(name: str, config: WebhookInputConfig) -> InputClient:
    from agenthost.channels.webhook import WebhookInput

    return WebhookInput(
        name=name,
        secret=secret_of(f"channels.inputs.{name}", config.secret, config.secret_env),
        host=config.host,
        port=config.port,
        path=config.path,
        max_body_bytes=config.max_body_bytes,
        tolerance=config.tolerance,
        insecure=config.insecure,
    )


def stdin_input(name: str, config: StdinInputConfig) -> InputClient:
    from agenthost.channels.stdio import StdinInput

    return StdinInput(
        name=name,
        conversation=config.conversation,
        format=config.format,
        stop_at_eof=config.stop_at_eof,
    )


def webhook_output(name: str, config: WebhookOutputConfig) -> OutputClient:
    from agenthost.channels.webhook import WebhookOutput

    return WebhookOutput(
        name=name,
        url=config.url,
        secret=secret_of(f"channels.outputs.{name}", config.secret, config.secret_env),
        headers=config.headers,
        timeout=config.timeout,
        max_chars=config.max_chars,
    )


def stdout_output(name: str, config: StdoutOutputConfig) -> OutputClient:
    from agenthost.channels.stdio import StdoutOutput

    return StdoutOutput(name=name, format=config.format)


def _builder(target: str) -> Callable[[str, Any], Any]:
    module, _, attr = target.partition(":")
    fn: Callable[[str, Any], Any] = getattr(importlib.import_module(module), attr)
    return fn


def build_clients(section: ChannelsConfig) -> tuple[list[InputClient], list[OutputClient]]:
    inputs_types, output_types = channel_types("input"), channel_types("output")
    inputs = [
        _builder(inputs_types[entry.type].build)(name, entry)
        for name, entry in section.inputs.items()
    ]
    outputs = [
        _builder(output_types[entry.type].build)(name, entry)
        for name, entry in section.outputs.items()
    ]
    return inputs, outputs


def build_channel_runtime(
    section: ChannelsConfig, runner: Runner, *, handle_signals: bool = True
) -> ChannelRuntime:
    """A ChannelRuntime for the section, over a runner (the caller's, opened)."""
    if not section.inputs:
        raise ConfigError(
            "channels.inputs: no input is configured; add one (cron, webhook, stdin, telegram, "
            "discord, slack)."
        )
    inputs, outputs = build_clients(section)
    return ChannelRuntime(
        inputs=inputs,
        outputs=outputs,
        runner=runner,
        routes=[
            Route(
                outputs=tuple(r.outputs),
                inputs=tuple(r.inputs),
                target=r.target,
                origin=r.origin,
            )
            for r in section.routes
        ],
        reply_to={name: entry.reply_to for name, entry in section.inputs.items()},
        concurrency=section.concurrency,
        queue_size=section.queue_size,
        grace=section.grace,
        flush_timeout=section.flush_timeout,
        limits=MessageLimits(
            max_text_chars=section.max_text_chars,
            max_attachments=section.max_attachments,
            max_attachment_bytes=section.max_attachment_bytes,
            attachment_types=tuple(section.attachment_types),
        ),
        retry=DeliveryRetry(
            max_attempts=section.retry.max_attempts,
            base=section.retry.base,
            max_delay=section.retry.max_delay,
        ),
        error_reply=section.error_reply or DEFAULT_ERROR_REPLY,
        handle_signals=handle_signals,
    )
