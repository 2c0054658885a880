"""`agenthost approvals ls`, `agenthost approve ID`, and the y/n prompt of `agenthost chat`.

A tool call that needs approval pauses its run (docs/tools.md, Human approval). `approvals
ls` lists the calls waiting for the user's answer; `approve ID` answers one (`--reject`,
`--args JSON` to change the arguments, `--message` for a note the model reads) and streams the
run the answer starts, as `agenthost run` does. In `chat`, a paused reply asks at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console
from rich.markup import escape

from agenthost.cli._common import EXIT_OK, EXIT_RUN_FAILED, closing, load, stderr_console
from agenthost.cli._options import Options
from agenthost.cli._render import EventRenderer, when
from agenthost.config.build import build_runtime, open_sessions
from agenthost.core import serde
from agenthost.core.approvals import ApprovalAnswer
from agenthost.core.errors import InvalidArgument

if TYPE_CHECKING:
    from agenthost.cli._chat import ChatSession

ARGUMENTS_SHOWN = 200  # characters of a call's arguments in the listing


def parse_arguments(text: str | None, *, field: str = "--args") -> dict[str, Any] | None:
    """`--args` as a dict (None when not given); InvalidArgument unless a JSON object."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        example = '{"city": "Oslo"}'
        raise InvalidArgument(field, f"not JSON ({exc}); write e.g. '{example}'") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(field, "must be a JSON object of the tool's arguments")
    return value


async def list_approvals(options: Options) -> int:
    console = Console(highlight=False)
    config = load(options)
    async with open_sessions(config, agent=options.agent) as runner:
        pending = await runner.pending_approvals(options.user, options.session)
        if not pending:
            console.print(
                f"[dim]no approvals waiting for user {escape(options.user)} in app "
                f"{escape(runner.app)}[/]"
            )
            return EXIT_OK
        for item in pending:  # lines, not a table: ids and arguments need the width
            arguments = item.arguments
            if len(arguments) > ARGUMENTS_SHOWN:
                arguments = arguments[: ARGUMENTS_SHOWN - 1] + "…"
            console.print(
                f"[bold]{item.approval_id}[/]  [magenta]{escape(item.tool_name)}[/]  [dim]session "
                f"{escape(item.session_id)} · asked {when(item.requested_at, short=True)}[/]",
                soft_wrap=True,
            )
            console.print(f"    {escape(arguments)}", soft_wrap=True, markup=True)
        console.print("[dim]answer with: agenthost approve ID [--reject] [--args JSON][/]")
    return EXIT_OK


async def answer(
    options: Options,
    approval_id: str,
    *,
    reject: bool,
    arguments: str | None,
    message: str | None,
    json_lines: bool,
) -> int:
    parsed = parse_arguments(arguments)
    if parsed is not None and reject:
        raise InvalidArgument("--args", "only an approval takes arguments, not --reject")
    config = load(options)
    async with build_runtime(config, agent=options.agent, model_override=options.model) as rt:
        err = stderr_console()
        renderer = EventRenderer(Console(highlight=False), err, usage=False)
        events = rt.runner.answer_approval(
            options.user,
            approval_id,
            approve=not reject,
            arguments=parsed,
            message=message,
            session_id=options.session,
        )
        status = None
        async with closing(events) as stream:
            async for event in stream:
                status = (event.data or {}).get("status") if event.is_terminal else status
                if json_lines:
                    print(serde.encode(event).decode(), flush=True)
                else:
                    renderer.handle(event)
    return EXIT_OK if status in ("completed", "paused") else EXIT_RUN_FAILED


PROMPT = "[magenta]approve {tool}?[/] [dim][y]es · [n]o · [e]dit arguments · [s]kip[/] "


async def ask_in_chat(chat: ChatSession) -> None:
    """After a reply that paused: ask about each pending approval, answer, and show the run
    the answer starts (which may pause again). A skip leaves the rest for later."""
    while chat.paused:
        pending = await chat.rt.runner.pending_approvals(chat.user, chat.session_id)
        if not pending:
            return
        item = pending[0]
        chat.console.print(PROMPT.format(tool=escape(item.tool_name)), end="")
        line = await chat.reader.readline()
        choice = (line or "").strip().lower()
        if not chat.interactive and line is not None:
            chat.console.print(line, markup=False, highlight=False)
        reply: ApprovalAnswer | None = None
        if choice in ("y", "yes"):
            reply = ApprovalAnswer(approval_id=item.approval_id, approve=True)
        elif choice in ("n", "no"):
            reply = ApprovalAnswer(approval_id=item.approval_id, approve=False)
        elif choice in ("e", "edit"):
            chat.console.print("[magenta]arguments (JSON):[/] ", end="")
            text = await chat.reader.readline()
            if not chat.interactive and text is not None:
                chat.console.print(text, markup=False, highlight=False)
            try:
                edited = parse_arguments(text or "", field="arguments")
            except InvalidArgument as exc:
                chat.console.print(f"[red]{escape(exc.message)}[/]")
                continue
            reply = ApprovalAnswer(approval_id=item.approval_id, approve=True, arguments=edited)
        if reply is None:
            chat.console.print(
                f"[dim]left waiting: agenthost approve {item.approval_id} (or send a new "
                f"message: it expires)[/]"
            )
            return
        await chat.run_turn(reply)
