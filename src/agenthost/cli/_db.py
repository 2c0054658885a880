"""`agenthost db upgrade|status`: the schema of every store the config uses.

The session store, the artifact store, the usage store and the knowledge store (each where
the config puts it, or where it follows `store.url`: config/store_urls.py). Stores on a
server database (Postgres, MySQL/MariaDB) have versioned migrations; the others (SQLite,
files, memory, Redis) make what they need when they open, and say so.

Only Typer is imported here; the stores, the config loader and the drivers load when a
command runs, so `agenthost --help` stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from agenthost.cli._options import ConfigOption

# its commands; app.py adds them as a group (with its help) that imports this module when used
db_app = typer.Typer(add_completion=False)


@dataclass(frozen=True, slots=True)
class _Target:
    role: str  # "sessions", "artifacts", ...
    store: Any
    shown: str  # the URL, password hidden

    @property
    def label(self) -> str:
        return f"{self.role} ({self.shown})"

    def latest(self) -> int:
        known = getattr(self.store, "schema_latest", None)
        if known is not None:
            return int(known)
        module = importlib.import_module(type(self.store).__module__)
        return int(module.LATEST)


def _targets(config: Path | None) -> list[_Target]:
    """The config's stores, not opened."""
    from agenthost.backends.artifacts import open_artifact_store
    from agenthost.backends.sessions import open_session_store, redact_store_url
    from agenthost.backends.usage import open_usage_store
    from agenthost.cli._common import load
    from agenthost.cli._options import Options
    from agenthost.config._metering import usage_url
    from agenthost.config.knowledge import make_store
    from agenthost.config.paths import home_dir
    from agenthost.config.store_urls import artifacts_url, knowledge_url, session_url

    loaded = load(Options(config=config, agent=None, user="local"))
    home = home_dir()
    url = session_url(loaded, home)
    targets = [_Target("sessions", open_session_store(url), redact_store_url(url))]
    url = artifacts_url(loaded, home)
    targets.append(_Target("artifacts", open_artifact_store(url), redact_store_url(url)))
    usage = usage_url(loaded, home)
    if usage is not None:
        targets.append(_Target("usage", open_usage_store(usage), redact_store_url(usage)))
    url = knowledge_url(loaded, home)
    targets.append(_Target("knowledge", make_store(loaded, home), redact_store_url(url)))
    return targets


async def upgrade_main(config: Path | None) -> int:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for target in _targets(config):
        upgrade = getattr(target.store, "upgrade", None)
        if upgrade is None:
            console.print(f"{target.label}: creates its own schema when it opens; nothing to do.")
            continue
        applied = await upgrade()
        version = await target.store.schema_version()
        if applied:
            console.print(
                f"{target.label}: applied migrations {applied}; schema version {version}."
            )
        else:
            console.print(f"{target.label}: already at schema version {version}.")
    return 0


async def status_main(config: Path | None) -> int:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    behind = False
    for target in _targets(config):
        version_of = getattr(target.store, "schema_version", None)
        if version_of is None:
            console.print(f"{target.label}: this store manages its own schema.")
            continue
        version, latest = await version_of(), target.latest()
        state = "up to date" if version == latest else "run `agenthost db upgrade`"
        behind = behind or version != latest
        console.print(
            f"{target.label}: schema version {version}, this agenthost needs {latest}: {state}."
        )
    return 1 if behind else 0


@db_app.command("upgrade")
def upgrade(config: ConfigOption = None) -> None:
    """Apply the pending schema migrations of the config's stores (safe to run twice)."""
    from agenthost.cli._common import execute

    raise typer.Exit(execute(lambda: upgrade_main(config)))


@db_app.command("status")
def status(config: ConfigOption = None) -> None:
    """Show the stores' schema versions; exit 1 when one needs `agenthost db upgrade`."""
    from agenthost.cli._common import execute

    raise typer.Exit(execute(lambda: status_main(config)))
