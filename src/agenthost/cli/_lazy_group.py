"""Command groups whose commands are imported and built only when they are needed.

Typer builds the Click command of every command of every group whenever the CLI starts,
whatever it was asked. A group made by `lazy_typer()` has its help here, and imports the module
of its commands (and builds them) the first time they are looked at: `agenthost kb add ...`,
`agenthost kb --help`, a typo to suggest from. `agenthost --help` and the other commands never
do.
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping, Sequence
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

# typer vendors Click as typer._click; its Command is what a group's commands are
Command = Any


class LazyGroup(TyperGroup):
    """A TyperGroup whose `commands` are the Typer at `target`'s, loaded on first access."""

    target: ClassVar[str] = ""  # 'package.module:attribute' of a typer.Typer

    def __init__(self, **kwargs: Any) -> None:
        self._given: dict[str, Command] = {}
        self._loaded: MutableMapping[str, Command] | None = None
        super().__init__(**kwargs)

    @property
    def commands(self) -> MutableMapping[str, Command]:
        if self._loaded is None:
            module, _, attribute = self.target.partition(":")
            commands = typer.main.get_group(getattr(importlib.import_module(module), attribute))
            self._loaded = {**commands.commands, **self._given}
        return self._loaded

    @commands.setter
    def commands(self, value: MutableMapping[str, Command] | Sequence[Command]) -> None:
        # TyperGroup.__init__ sets what Typer registered on the placeholder (nothing)
        self._given = dict(value) if isinstance(value, MutableMapping) else {}
        self._loaded = None


def lazy_typer(target: str, *, help: str) -> typer.Typer:
    """A Typer (to add with `add_typer`) with this help whose commands are `target`'s.

    `target` names a typer.Typer, 'package.module:attribute'; its commands are imported only
    when this group's are needed. Its own help, callback and settings are not used.
    """
    name = target.rpartition(":")[2]
    group = type(f"Lazy_{name}", (LazyGroup,), {"target": target})
    return typer.Typer(cls=group, help=help, no_args_is_help=True, add_completion=False)
