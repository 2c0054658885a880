"""Channels: a long-running runtime where inputs (cron, webhook, stdin, chat platforms) feed
the Runner and outputs (webhook POST, stdout, chat platforms) deliver the replies.

    from agenthost import ChannelRuntime, CronInput, StdoutOutput
    runtime = ChannelRuntime(inputs=[CronInput(schedule="@hourly", prompt="...")],
                             outputs=[StdoutOutput()], agent=agent)
    await runtime.run()

See runtime.py for the flow, base.py for writing a client, docs/channels.md for the guide.
Names load lazily: importing this package imports no HTTP or cron library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.channels._delivery import DeliveryRetry
    from agenthost.channels.base import (
        ClientStatus,
        InputClient,
        OutputClient,
        OutputLimits,
        Sink,
        StreamingOutput,
    )
    from agenthost.channels.cron import CronInput
    from agenthost.channels.discord import DiscordInput, DiscordOutput
    from agenthost.channels.routing import Route, split_text
    from agenthost.channels.runtime import ChannelRuntime
    from agenthost.channels.slack import SlackInput, SlackOutput
    from agenthost.channels.stdio import StdinInput, StdoutOutput
    from agenthost.channels.telegram import TelegramInput, TelegramOutput
    from agenthost.channels.validation import MessageLimits
    from agenthost.channels.webhook import WebhookInput, WebhookOutput
    from agenthost.channels.x import XOutput
    from agenthost.ports.channels import Attachment, Delivery, InboundMessage

_EXPORTS: dict[str, str] = {
    "ChannelRuntime": "agenthost.channels.runtime",
    "DeliveryRetry": "agenthost.channels._delivery",
    "ClientStatus": "agenthost.channels.base",
    "InputClient": "agenthost.channels.base",
    "OutputClient": "agenthost.channels.base",
    "OutputLimits": "agenthost.channels.base",
    "Sink": "agenthost.channels.base",
    "StreamingOutput": "agenthost.channels.base",
    "CronInput": "agenthost.channels.cron",
    "Route": "agenthost.channels.routing",
    "split_text": "agenthost.channels.routing",
    "StdinInput": "agenthost.channels.stdio",
    "StdoutOutput": "agenthost.channels.stdio",
    "MessageLimits": "agenthost.channels.validation",
    "WebhookInput": "agenthost.channels.webhook",
    "WebhookOutput": "agenthost.channels.webhook",
    "TelegramInput": "agenthost.channels.telegram",
    "TelegramOutput": "agenthost.channels.telegram",
    "DiscordInput": "agenthost.channels.discord",
    "DiscordOutput": "agenthost.channels.discord",
    "SlackInput": "agenthost.channels.slack",
    "SlackOutput": "agenthost.channels.slack",
    "XOutput": "agenthost.channels.x",
    "Attachment": "agenthost.ports.channels",
    "Delivery": "agenthost.ports.channels",
    "InboundMessage": "agenthost.ports.channels",
}

__all__ = [
    "Attachment",
    "ChannelRuntime",
    "ClientStatus",
    "CronInput",
    "Delivery",
    "DeliveryRetry",
    "DiscordInput",
    "DiscordOutput",
    "InboundMessage",
    "InputClient",
    "MessageLimits",
    "OutputClient",
    "OutputLimits",
    "Route",
    "Sink",
    "SlackInput",
    "SlackOutput",
    "StdinInput",
    "StdoutOutput",
    "StreamingOutput",
    "TelegramInput",
    "TelegramOutput",
    "WebhookInput",
    "WebhookOutput",
    "XOutput",
    "split_text",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
