"""`agenthost sessions list|show|rm`: the sessions of one user of the config's app."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agenthost.cli._common import EXIT_OK, load
from agenthost.cli._options import Options
from agenthost.cli._render import render_session, run_counts, when
from agenthost.config.build import open_sessions
from agenthost.core.events import summarize_runs


async def list_sessions(options: Options, *, limit: int | None) -> int:
    console = Console(highlight=False)
    config = load(options)
    async with open_sessions(config, agent=options.agent) as runner:
        infos = await runner.list_sessions(options.user)
        shown = infos if limit is None else infos[:limit]
        if not infos:
            console.print(
                f"[dim]no sessions for user {escape(options.user)} in app {escape(runner.app)}[/]"
            )
            return EXIT_OK
        table = Table(show_edge=False)
        table.add_column("session", no_wrap=True, min_width=len(infos[0].id))
        table.add_column("updated", no_wrap=True, min_width=8)
        table.add_column("events", justify="right", no_wrap=True, min_width=6)
        table.add_column("runs", no_wrap=True, min_width=11)
        table.add_column("first message", overflow="ellipsis", no_wrap=True, max_width=30)
        for info in shown:
            session = await runner.get_session(options.user, info.id)
            runs = summarize_runs(session.events)
            first = next(
                (
                    e.message.text
                    for e in session.events
                    if e.type == "message.received" and e.message is not None
                ),
                "",
            )
            table.add_row(
                info.id,
                when(info.updated_at, short=True),
                str(len(session.events)),
                run_counts(runs),
                escape(first.replace("\n", " ")),
            )
        console.print(table)
        if len(shown) < len(infos):
            console.print(
                f"[dim]{len(infos) - len(shown)} older sessions not shown (--limit 0 shows all)[/]"
            )
    return EXIT_OK


async def show_session(options: Options, session_id: str) -> int:
    console = Console(highlight=False)
    config = load(options)
    async with open_sessions(config, agent=options.agent) as runner:
        session = await runner.get_session(options.user, session_id)
        render_session(console, session)
    return EXIT_OK


async def remove_session(options: Options, session_id: str) -> int:
    console = Console(highlight=False)
    config = load(options)
    async with open_sessions(config, agent=options.agent) as runner:
        await runner.delete_session(options.user, session_id)
    console.print(f"deleted session {escape(session_id)}")
    return EXIT_OK
