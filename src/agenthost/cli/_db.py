"""`agenthost db upgrade|status`: the schema of the config's session store.

Only Typer is imported here; the store, the config loader and the drivers load when a command
runs, so `agenthost --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agenthost.cli._options import ConfigOption

db_app = typer.Typer(
    help="The session store's schema: apply migrations, show the version.",
    no_args_is_help=True,
    add_completion=False,
)


def _store(config: Path | None) -> tuple[Any, str]:
    from agenthost.backends.sessions import open_session_store, redact_store_url
    from agenthost.cli._common import load
    from agenthost.cli._options import Options
    from agenthost.config.paths import default_store_url, home_dir

    loaded = load(Options(config=config, agent=None, user="local"))
    url = loaded.store.url or default_store_url(home_dir())
    return open_session_store(url), redact_store_url(url)


async def upgrade_main(config: Path | None) -> int:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    store, shown = _store(config)
    upgrade = getattr(store, "upgrade", None)
    if upgrade is None:
        console.print(f"{shown}: this store creates its own schema when it opens; nothing to do.")
        return 0
    applied = await upgrade()
    version = await store.schema_version()
    if applied:
        console.print(f"{shown}: applied migrations {applied}; schema version {version}.")
    else:
        console.print(f"{shown}: already at schema version {version}.")
    return 0


async def status_main(config: Path | None) -> int:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    store, shown = _store(config)
    version_of = getattr(store, "schema_version", None)
    if version_of is None:
        console.print(f"{shown}: this store manages its own schema.")
        return 0
    module = __import__(type(store).__module__, fromlist=["LATEST"])
    version, latest = await version_of(), module.LATEST
    state = "up to date" if version == latest else "run `agenthost db upgrade`"
    console.print(f"{shown}: schema version {version}, this agenthost needs {latest}: {state}.")
    return 0 if version == latest else 1


@db_app.command("upgrade")
def upgrade(config: ConfigOption = None) -> None:
    """Apply the pending schema migrations to the config's store (safe to run twice)."""
    from agenthost.cli._common import execute

    raise typer.Exit(execute(lambda: upgrade_main(config)))


@db_app.command("status")
def status(config: ConfigOption = None) -> None:
    """Show the store's schema version; exit 1 when it needs `agenthost db upgrade`."""
    from agenthost.cli._common import execute

    raise typer.Exit(execute(lambda: status_main(config)))
