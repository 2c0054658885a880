"""The options every command shares (kept light: `agenthost --help` imports this)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer


@dataclass(slots=True, kw_only=True)
class Options:
    config: Path | None = None
    agent: str | None = None
    model: str | None = None
    user: str = "local"
    session: str | None = None


def default_user() -> str:
    return os.environ.get("USER") or "local"


# `--config` of every command that reads agenthost.yaml
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: ./agenthost.yaml if present).",
        envvar="AGENTHOST_CONFIG",
        show_default=False,
    ),
]
