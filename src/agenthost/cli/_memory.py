"""`agenthost memory ls|search|add|rm`: a user's long-term memory of sessions.

Memories are per user (`--user`, default $USER) and live in the config's knowledge store.
Only Typer is imported here; the rest loads when a command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agenthost.cli._kb import UserOption, _console, _context, _knowledge, _run
from agenthost.cli._options import ConfigOption

# its commands; app.py adds them as a group (with its help) that imports this module when used
memory_app = typer.Typer(add_completion=False)


@memory_app.command("ls")
def ls(config: ConfigOption = None, user: UserOption = None) -> None:
    """List your remembered sessions."""

    async def main() -> int:
        from rich.markup import escape

        from agenthost.backends.knowledge.memory_store import KnowledgeMemory

        async with _knowledge(config, user) as (store, _, owner):
            sessions = await KnowledgeMemory(store).sessions(owner)
        console = _console()
        if not sessions:
            console.print(f"[dim]nothing remembered for {escape(owner)}[/]")
        for doc in sessions:
            console.print(f"{escape(doc.document)}  [dim]{doc.chunks} chunks[/]")
        return 0

    _run(main)


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to recall.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=50)] = 3,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Search your memory (hybrid search)."""

    async def main() -> int:
        from rich.markup import escape

        from agenthost.backends.knowledge.memory_store import KnowledgeMemory

        async with _knowledge(config, user) as (store, _, owner):
            chunks = await KnowledgeMemory(store).search(owner, query, top_k=top_k)
        console = _console()
        if not chunks:
            console.print("[dim]nothing matches[/]")
        for chunk in chunks:
            console.print(f"[bold]{escape(chunk.document or chunk.id)}[/]")
            console.print(escape(chunk.text.strip()[:400]), end="\n\n")
        return 0

    _run(main)


@memory_app.command("add")
def add(
    session_id: Annotated[str, typer.Argument(metavar="SESSION", help="A session of yours.")],
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Its agent (default: the default).")
    ] = None,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Remember one of your sessions (again: replaces what was remembered of it)."""

    async def main() -> int:
        from rich.markup import escape

        from agenthost.backends.knowledge.memory_store import KnowledgeMemory
        from agenthost.cli._options import Options
        from agenthost.config.build import open_sessions
        from agenthost.config.knowledge import open_knowledge
        from agenthost.engine.retrieval import session_transcript

        loaded, owner = _context(config, user)
        options = Options(config=config, agent=agent, user=owner)
        async with open_sessions(loaded, agent=options.agent) as runner:
            session = await runner.get_session(owner, session_id)
            app = runner.app
        async with open_knowledge(loaded) as store:
            chunks = await KnowledgeMemory(store).add_session(
                owner, app=app, session_id=session_id, transcript=session_transcript(session.events)
            )
        _console().print(f"remembered {escape(app)}/{escape(session_id)} ({chunks} chunks)")
        return 0

    _run(main)


@memory_app.command("rm")
def rm(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="APP/SESSION (see ls).")],
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Forget a remembered session."""

    async def main() -> int:
        from rich.markup import escape

        from agenthost.backends.knowledge.memory_store import KnowledgeMemory

        async with _knowledge(config, user) as (store, _, owner):
            await KnowledgeMemory(store).forget(owner, memory_id)
        _console().print(f"forgot {escape(memory_id)}")
        return 0

    _run(main)


__all__ = ["memory_app"]
