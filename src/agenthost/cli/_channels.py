"""`agenthost channels run`: the config's `channels:` section, until SIGINT/SIGTERM.

It opens the channel agent (`channels.agent`, else the default agent) like `agenthost run`,
builds the inputs and outputs, prints the per-channel status table on stderr when they have
started and again when they stop, and logs every state change (an input restarted, a delivery
given up). Exit 0 after a graceful stop, 2 on a config error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from agenthost.cli._common import EXIT_OK, load
from agenthost.cli._options import Options
from agenthost.core.errors import ConfigError

if TYPE_CHECKING:
    from agenthost.channels.base import ClientStatus

log = logging.getLogger("agenthost.cli")


def status_table(statuses: list[ClientStatus], title: str = "channels") -> Table:
    """One row per client: its state, restarts, counts, and where it listens or sends."""
    table = Table(title=title, title_justify="left")
    table.add_column("channel", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("restarts", justify="right")
    table.add_column("messages")
    table.add_column("where / last error")
    for s in statuses:
        if s.direction == "input":
            counts = f"{s.received} in, {s.duplicates} dup, {s.rejected} bad"
        else:
            counts = f"{s.delivered} sent, {s.retried} retried, {s.failed} failed"
        table.add_row(
            f"{s.direction} {s.name} ({s.platform})",
            s.state,
            str(s.restarts),
            counts,
            s.last_error or s.describe,
        )
    return table


async def run_channels(options: Options) -> int:
    from agenthost.channels._build import build_channel_runtime
    from agenthost.config.build import build_runtime

    config = load(options)
    if config.channels is None:
        raise ConfigError(
            "The config has no channels: section. Add one with inputs and outputs "
            "(see docs/channels.md)."
        )
    section = config.channels
    agent = options.agent or section.agent
    err = Console(stderr=True, highlight=False)
    async with build_runtime(config, agent=agent, model_override=options.model) as rt:
        runtime = build_channel_runtime(section, rt.runner)
        task = asyncio.create_task(runtime.run())
        started = asyncio.create_task(runtime.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if runtime.started.is_set():
            err.print(status_table(runtime.status(), f"channels of agent {rt.agent_name}"))
        started.cancel()
        await task
        err.print(status_table(runtime.status(), "channels (stopped)"))
    return EXIT_OK
