"""docs/config.md's list of CLI commands is the CLI's: every command is there, and every
command it names exists (with its subcommands)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from agenthost.cli.app import app

CONFIG_MD = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def documented() -> set[str]:
    """'cmd' and 'cmd sub' named by the text block under '## The CLI'."""
    section = CONFIG_MD.read_text().split("## The CLI", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    names: set[str] = set()
    for line in block.splitlines():
        match = re.match(r"agenthost ([a-z]+)(?: ([a-z|]+)(?=\s|$))?", line)
        if match is None:
            continue
        names.add(match[1])
        for sub in (match[2] or "").split("|"):
            if sub:
                names.add(f"{match[1]} {sub}")
    return names


def commands() -> set[str]:
    root = typer.main.get_command(app)
    names: set[str] = set()
    for name, command in getattr(root, "commands", {}).items():
        names.add(name)
        names.update(f"{name} {sub}" for sub in getattr(command, "commands", {}))
    return names


def test_every_command_is_documented() -> None:
    top = {name for name in commands() if " " not in name}
    assert {"run", "serve", "sessions"} <= top
    assert top - documented() == set()


def test_every_documented_command_exists() -> None:
    real = commands()
    # 'run "message"' and the like: only names that look like subcommands are checked
    wrong = {name for name in documented() if name not in real and name.split()[0] in real}
    missing = {name for name in documented() if name.split()[0] not in real}
    assert (wrong, missing) == (set(), set())
