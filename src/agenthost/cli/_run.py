"""`agenthost run "message"`: one turn, then exit.

The reply streams to stdout; tool calls and errors go to stderr, so stdout is the answer
alone. `--json` prints every event instead, one msgspec-JSON object per line (partial
`message.delta` events included). Exit code 1 when the run failed or was cancelled (0 when it
paused for an approval: `agenthost approvals ls`): Ctrl-C
cancels the run (a second Ctrl-C stops waiting for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from agenthost.cli._attach import with_files
from agenthost.cli._common import EXIT_OK, EXIT_RUN_FAILED, closing, load, stderr_console
from agenthost.cli._logging import current_run
from agenthost.cli._options import Options
from agenthost.cli._render import EventRenderer
from agenthost.config.build import Runtime, build_runtime
from agenthost.core import serde
from agenthost.core.errors import RunNotFound
from agenthost.core.events import Event
from agenthost.core.ids import new_run_id
from agenthost.core.messages import Message
from agenthost.ports.protocol import DeliverySection, EventSource

log = logging.getLogger("agenthost.cli")


class _CtrlC:
    """First Ctrl-C cancels the run; the second cancels the task waiting for it."""

    def __init__(self, rt: Runtime, run_id: str) -> None:
        self.rt = rt
        self.run_id = run_id
        self.task = asyncio.current_task()
        self.pressed = False

    def __call__(self) -> None:
        if self.pressed:
            if self.task is not None:
                self.task.cancel()
            return
        self.pressed = True
        log.info("Ctrl-C: cancelling run %s", self.run_id)
        with contextlib.suppress(RunNotFound):
            self.rt.runner.cancel(self.run_id, "cancelled with Ctrl-C")


async def _drive(
    rt: Runtime, options: Options, message: str | Message, run_id: str, json_lines: bool
) -> Event | None:
    err = stderr_console()
    renderer = EventRenderer(Console(highlight=False), err, usage=False)
    out = sys.stdout.buffer
    last: Event | None = None
    events = rt.runner.run(
        options.user,
        options.session,
        message,
        run_id=run_id,
        source=EventSource(platform="cli", sender_id=options.user),
        delivery=DeliverySection(surface="cli"),
    )
    async with closing(events) as stream:
        async for event in stream:
            last = event
            if json_lines:
                out.write(serde.encode(event) + b"\n")
                out.flush()
            else:
                renderer.handle(event)
    if not json_lines and last is not None:
        sid = last.session_id
        err.print(f"[dim]session {sid} (continue with --session {sid})[/]", soft_wrap=True)
    return last


async def run_once(
    options: Options, message: str, *, json_lines: bool, files: Sequence[Path] = ()
) -> int:
    config = load(options)
    sent = with_files(message, files)  # read before anything starts: a bad path fails first
    async with build_runtime(config, agent=options.agent, model_override=options.model) as rt:
        run_id = new_run_id()
        token = current_run.set(run_id)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, _CtrlC(rt, run_id))
        try:
            log.info("run started: agent %s, model %s", rt.agent_name, rt.model_id)
            last = await _drive(rt, options, sent, run_id, json_lines)
            status = (last.data or {}).get("status") if last is not None else None
            log.info("run ended: %s", status)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            current_run.reset(token)
        # a run paused for approval did not fail (`agenthost approve` goes on with it)
        return EXIT_OK if status in ("completed", "paused") else EXIT_RUN_FAILED
