"""`agenthost chat`: a conversation in the terminal.

The reply streams as it comes; each tool call is shown as a panel with its arguments and
result. Commands: `/history` (this session's messages), `/new` (a new session), `/exit`
(also end of input). Ctrl-C during a reply cancels that run (`runner.cancel(run_id)`: the
model call and tools stop, the run is stored as cancelled) and returns to the prompt; a
second Ctrl-C during the same run abandons it at once. Ctrl-C at the prompt quits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from agenthost.cli._approvals import ask_in_chat
from agenthost.cli._attach import attachment, with_files
from agenthost.cli._common import EXIT_OK, closing, load, print_error
from agenthost.cli._input import INTERRUPTED, LineReader
from agenthost.cli._logging import current_run
from agenthost.cli._options import Options
from agenthost.cli._render import EventRenderer, render_transcript
from agenthost.config.build import Runtime, build_runtime
from agenthost.core.approvals import ApprovalAnswer
from agenthost.core.errors import AgentHostError, RunNotFound, SessionNotFound
from agenthost.core.ids import new_run_id, new_session_id
from agenthost.ports.protocol import DeliverySection, EventSource

log = logging.getLogger("agenthost.cli")

HELP = (
    "/history shows this session · /new starts a new one · /attach PATH adds a file to "
    "your next message · /exit quits"
)
PROMPT = "[bold cyan]you ›[/] "


class ChatSession:
    def __init__(
        self, rt: Runtime, console: Console, *, user: str, session_id: str, new: bool = False
    ) -> None:
        self.rt = rt
        self.console = console
        self.user = user
        self.session_id = session_id
        # an id made here (no --session, or /new): the next run creates the session with its
        # message in one store call, without a `get` first (Runner.run(new=True))
        self.new_session = new
        self.reader = LineReader()
        self.run_id: str | None = None
        self.turn: asyncio.Task[None] | None = None
        self.cancel_sent = False
        self.interactive = sys.stdin.isatty()
        self.paused = False  # the last reply waits for approvals (cli/_approvals.py)
        self.attached: list[Path] = []  # /attach: sent with the next message

    # ---- Ctrl-C --------------------------------------------------------------------------

    def on_sigint(self) -> None:
        run_id = self.run_id
        if run_id is None:
            self.reader.interrupt()
            return
        if self.cancel_sent:  # a second Ctrl-C: stop waiting for the run to wind down
            if self.turn is not None:
                self.turn.cancel()
            return
        self.cancel_sent = True
        log.info("Ctrl-C: cancelling run %s", run_id)
        with contextlib.suppress(RunNotFound):
            self.rt.runner.cancel(run_id, "cancelled with Ctrl-C")

    # ---- the loop ------------------------------------------------------------------------

    async def loop(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.on_sigint)
        try:
            while True:
                self.console.print(PROMPT, end="")
                line = await self.reader.readline()
                if line is None or line == INTERRUPTED:
                    self.console.print()
                    return EXIT_OK
                if not self.interactive:  # piped input: show it, so the transcript reads well
                    self.console.print(line, markup=False, highlight=False)
                text = line.strip()
                if not text:
                    continue
                if text.startswith("/"):
                    if not await self.command(text):
                        return EXIT_OK
                    continue
                await self.run_turn(text)
                if self.paused:
                    await ask_in_chat(self)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self.reader.close()

    async def command(self, text: str) -> bool:
        """Handle a /command; False means quit."""
        name = text.split()[0].lower()
        if name in ("/exit", "/quit", "/q"):
            return False
        if name == "/new":
            self.session_id = new_session_id()
            self.new_session = True
            self.console.print(f"[dim]new session {self.session_id}[/]")
        elif name == "/history":
            await self.history()
        elif name == "/attach":
            self.attach(text[len(name) :].strip())
        elif name == "/help":
            self.console.print(f"[dim]{HELP}[/]")
        else:
            self.console.print(f"[yellow]unknown command {escape(name)}[/] [dim]({HELP})[/]")
        return True

    def attach(self, raw: str) -> None:
        if not raw:
            self.console.print("[yellow]/attach needs a path[/] [dim](/attach photo.png)[/]")
            return
        path = Path(raw).expanduser()
        try:
            attachment(path, "/attach")  # read now: a bad path is said at once
        except AgentHostError as exc:
            print_error(self.console, exc)
            return
        self.attached.append(path)
        self.console.print(f"[dim]attached {escape(str(path))} (sent with your next message)[/]")

    async def history(self) -> None:
        try:
            session = await self.rt.runner.get_session(self.user, self.session_id)
        except SessionNotFound:
            self.console.print("[dim](no messages yet)[/]")
            return
        self.console.rule(f"session {self.session_id}", style="dim")
        if not render_transcript(self.console, session.events):
            self.console.print("[dim](no messages yet)[/]")
        self.console.rule(style="dim")

    async def run_turn(self, text: str | ApprovalAnswer) -> None:
        self.run_id = new_run_id()
        self.cancel_sent = False
        self.turn = asyncio.create_task(self._drive(text, self.run_id))
        try:
            await asyncio.wait([self.turn])
            if self.turn.cancelled():
                self.console.print("[yellow]run abandoned[/]")
            elif (exc := self.turn.exception()) is not None:
                if not isinstance(exc, AgentHostError):
                    log.error("run %s failed", self.run_id, exc_info=exc)
                print_error(self.console, exc)
        finally:
            self.run_id = None
            self.turn = None

    async def _drive(self, text: str | ApprovalAnswer, run_id: str) -> None:
        token = current_run.set(run_id)
        files: list[Path] = []
        if not isinstance(text, ApprovalAnswer):  # /attach files go with the next message
            files, self.attached = self.attached, []
        renderer = EventRenderer(self.console)
        try:
            log.info("run started in session %s", self.session_id)
            events = self.rt.runner.run(
                self.user,
                self.session_id,
                text if isinstance(text, ApprovalAnswer) else with_files(text, files, "/attach"),
                run_id=run_id,
                source=EventSource(
                    platform="cli", conversation_id=self.session_id, sender_id=self.user
                ),
                delivery=DeliverySection(surface="cli"),
                new=self.new_session,
            )
            self.new_session = False  # made by this run (or found: the runner then goes on)
            async with closing(events) as stream:
                async for event in stream:
                    renderer.handle(event)
            last = renderer.last
            status = (last.data or {}).get("status") if last is not None else None
            self.paused = status == "paused"
            log.info("run ended: %s", status)
        finally:
            current_run.reset(token)


async def chat(options: Options) -> int:
    console = Console(highlight=False)
    config = load(options)
    async with AsyncExitStack() as stack:
        with console.status("starting…"):
            rt = await stack.enter_async_context(
                build_runtime(config, agent=options.agent, model_override=options.model)
            )
        session_id = options.session or new_session_id()
        console.print(
            f"[bold]agenthost chat[/] · agent [bold]{escape(rt.agent_name)}[/] · model "
            f"{escape(rt.model_id)} · session {escape(session_id)}"
        )
        if options.session is not None:
            with contextlib.suppress(SessionNotFound):
                known = await rt.runner.get_session(options.user, session_id)
                turns = sum(e.type == "message.received" for e in known.events)
                console.print(f"[dim]continuing a session with {turns} messages (/history)[/]")
        console.print(f"[dim]{HELP} · Ctrl-C cancels a reply[/]")
        new = options.session is None
        return await ChatSession(
            rt, console, user=options.user, session_id=session_id, new=new
        ).loop()
    raise AssertionError("unreachable")  # pragma: no cover
