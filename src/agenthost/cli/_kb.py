"""`agenthost kb create|add|ls|search|rm`: knowledge bases in the config's knowledge store.

A name declared under `knowledge_bases:` in the config is the app's shared base (the one its
agents use); any other name is a base of `--user`. Only Typer is imported here; the store,
numpy and the embedder load when a command runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agenthost.cli._options import ConfigOption

if TYPE_CHECKING:
    from rich.console import Console

    from agenthost.backends.knowledge.ingest import IngestReport, Source
    from agenthost.backends.knowledge.store import KnowledgeStore
    from agenthost.config.schema import AgentHostConfig

# its commands; app.py adds them as a group (with its help) that imports this module when used
kb_app = typer.Typer(add_completion=False)

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        help="Owner of the base (default: $USER, else 'local'); bases declared in the "
        "config belong to the app.",
        envvar="AGENTHOST_USER",
        show_default=False,
    ),
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The knowledge base.")]


def _run(main: object) -> None:
    from agenthost.cli._common import execute

    raise typer.Exit(execute(main))  # type: ignore[arg-type]


def _context(config: Path | None, user: str | None) -> tuple[AgentHostConfig, str]:
    from agenthost.cli._common import load
    from agenthost.cli._options import Options, default_user

    return load(Options(config=config)), user or default_user()


@asynccontextmanager
async def _knowledge(
    config: Path | None, user: str | None
) -> AsyncIterator[tuple[KnowledgeStore, AgentHostConfig, str]]:
    """(the config's knowledge store, opened; the config; the user), for one command."""
    from agenthost.config.knowledge import open_knowledge

    loaded, owner = _context(config, user)
    async with open_knowledge(loaded) as store:
        yield store, loaded, owner


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _owner(loaded: AgentHostConfig, user: str, name: str) -> str:
    from agenthost.config.knowledge import SHARED_OWNER

    return SHARED_OWNER if name in loaded.knowledge_bases else user


@kb_app.command("create")
def create(
    name: NameArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What it holds.")] = "",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=50, help="Characters per chunk.")
    ] = 800,
    chunk_overlap: Annotated[
        int, typer.Option("--chunk-overlap", min=0, help="Characters shared by neighbours.")
    ] = 100,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Create a knowledge base."""

    async def main() -> int:
        async with _knowledge(config, user) as (store, loaded, owner):
            info = await store.create(
                _owner(loaded, owner, name),
                name,
                description=description,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
            )
        _console().print(
            f"created knowledge base {info.name} (chunks of {info.chunk_size} characters, "
            f"{info.chunk_overlap} overlap, embedder {info.embedder})"
        )
        return 0

    _run(main)


@kb_app.command("add")
def add(
    name: NameArg,
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SOURCE...",
            help="Files, folders or http(s) URLs (default: the base's declared sources).",
            show_default=False,
        ),
    ] = None,
    create: Annotated[
        bool, typer.Option("--create", help="Create the base first if it does not exist.")
    ] = False,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Add (or replace) documents: text, Markdown, HTML, PDF. Exit 1 if any failed."""

    async def main() -> int:
        from agenthost.config.knowledge import open_knowledge
        from agenthost.config.knowledge import sources as make_sources

        loaded, owner = _context(config, user)
        owner = _owner(loaded, owner, name)
        specs = list(sources or [])
        if not specs and name in loaded.knowledge_bases:
            specs = loaded.knowledge_bases[name].sources
        if not specs:
            raise typer.BadParameter("name at least one file, folder or URL", param_hint="SOURCE")
        console = _console()
        async with open_knowledge(loaded) as store:
            if create:
                await store.create(owner, name, exist_ok=True)
            report = await _ingest(console, store, owner, name, make_sources(specs))
        _summary(console, name, report)
        return 0 if report.ok else 1

    _run(main)


async def _ingest(
    console: Console, store: KnowledgeStore, owner: str, name: str, typed: list[Source]
) -> IngestReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agenthost.backends.knowledge.ingest import ingest

    columns = (
        TextColumn("[bold]ingesting[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", markup=False),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=len(typed))

        def advance(done: int, total: int, document: str) -> None:
            progress.update(task, completed=done, description=document)

        return await ingest(store, owner, name, typed, progress=advance)


def _summary(console: Console, name: str, report: IngestReport) -> None:
    from rich.markup import escape

    # one line each, never wrapped at the terminal's width: a path and its reason stay together
    # (and greppable when the output is piped)
    console.print(f"{escape(name)}: {report.summary()}", soft_wrap=True)
    for document, reason in report.failed:
        console.print(f"[red]failed[/] {escape(document)}: {escape(reason)}", soft_wrap=True)


@kb_app.command("ls")
def ls(
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="List this base's documents.", show_default=False),
    ] = None,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """List your knowledge bases (and the config's), or the documents of one."""

    async def main() -> int:
        from rich.markup import escape
        from rich.table import Table

        from agenthost.config.knowledge import SHARED_OWNER

        async with _knowledge(config, user) as (store, loaded, owner):
            table = Table(show_edge=False)
            if name is not None:
                docs = await store.documents(_owner(loaded, owner, name), name)
                for column in ("document", "chunks", "metadata"):
                    table.add_column(column)
                for doc in docs:
                    table.add_row(escape(doc.document), str(doc.chunks), escape(str(doc.metadata)))
            else:
                bases = [*await store.bases(SHARED_OWNER), *await store.bases(owner)]
                for column in ("name", "owner", "documents", "chunks", "description"):
                    table.add_column(column)
                for base in bases:
                    table.add_row(
                        escape(base.name),
                        escape(base.owner or "(app)"),
                        str(base.documents),
                        str(base.chunks),
                        escape(base.description),
                    )
            _console().print(table)
        return 0

    _run(main)


@kb_app.command("search")
def search(
    name: NameArg,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 5,
    mode: Annotated[
        str, typer.Option("--mode", help="hybrid, text (full text alone) or vector.")
    ] = "hybrid",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="KEY=VALUE metadata filter (repeatable)."),
    ] = None,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Search a knowledge base: the best chunks with their document and score."""
    if mode not in ("hybrid", "text", "vector"):
        raise typer.BadParameter("use hybrid, text or vector", param_hint="--mode")
    wanted: dict[str, str] = {}
    for item in filters or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--filter")
        wanted[key] = value

    async def main() -> int:
        from rich.markup import escape

        async with _knowledge(config, user) as (store, loaded, owner):
            chunks = await store.search(
                _owner(loaded, owner, name),
                name,
                query,
                top_k=top_k,
                filters=wanted,
                mode=mode,  # type: ignore[arg-type]
            )
        console = _console()
        if not chunks:
            console.print("[dim]no chunk matches[/]")
        for n, chunk in enumerate(chunks, 1):
            console.print(
                f"[bold]{n}. {escape(chunk.document or chunk.id)}[/] chunk {chunk.index} "
                f"[dim]score {chunk.score:.4f}[/]"
            )
            console.print(escape(chunk.text.strip()[:400]), end="\n\n")
        return 0

    _run(main)


@kb_app.command("rm")
def rm(
    name: NameArg,
    document: Annotated[
        str | None,
        typer.Argument(metavar="[DOCUMENT]", help="Remove only this document.", show_default=False),
    ] = None,
    config: ConfigOption = None,
    user: UserOption = None,
) -> None:
    """Delete a knowledge base, or one document of it."""

    async def main() -> int:
        from rich.markup import escape

        async with _knowledge(config, user) as (store, loaded, owner):
            owner = _owner(loaded, owner, name)
            if document is None:
                await store.delete(owner, name)
                message = f"deleted knowledge base {escape(name)}"
            else:
                removed = await store.remove(owner, name, document)
                message = f"removed {escape(document)} ({removed} chunks) from {escape(name)}"
        _console().print(message)
        return 0

    _run(main)
