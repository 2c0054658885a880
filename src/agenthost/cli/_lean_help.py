"""Typer's help and usage errors without the two parts of Rich they never use here.

Typer renders help and usage errors with `typer.rich_utils`. When that module loads, it imports
`rich.markdown` (with markdown-it-py and Pygments) and `rich.traceback` (with rich.pretty and
attrs): about a third of what `agenthost --help` costs. It uses `Markdown` only for help text
in the "markdown" markup mode (this CLI keeps Typer's default, "rich") and `Traceback` only for
pretty tracebacks (the CLI turns them off: `pretty_exceptions_enable=False`).

`defer()` (called by the `agenthost` command's `main()` only, never on import) lets
`typer.rich_utils` load with stand-ins for the names it takes from those two modules. A
stand-in imports its real module the first time it is called or one of its attributes is
read, so every path still works, the same as before, only later. Nothing else sees the
stand-ins: they are in `sys.modules` only while `typer.rich_utils` runs, and if it fails with
them it is run again without them.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

TARGET = "typer.rich_utils"
DEFERRED = ("rich.markdown", "rich.traceback")


class _StandIn(type):
    """The metaclass of a stand-in class: a call or an attribute read goes to the real one."""

    _deferred_from: str

    def _real(cls) -> Any:
        import importlib

        return getattr(importlib.import_module(cls._deferred_from), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real(), name)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._real())

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls._real())

    def __repr__(cls) -> str:
        return f"<stand-in for {cls._deferred_from}.{cls.__name__}>"


class _StandInModule(ModuleType):
    """Gives a stand-in class for any public name (`from rich.markdown import Markdown`)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system's questions (__path__, ...): not a package
            raise AttributeError(name)
        return _StandIn(name, (), {"_deferred_from": self.__name__, "__module__": self.__name__})


class _Loader:
    """Runs the real loader with the stand-ins in sys.modules, then takes them out."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        missing = [name for name in DEFERRED if name not in sys.modules]
        for name in missing:
            sys.modules[name] = _StandInModule(name)
        try:
            self._loader.exec_module(module)
        except Exception:  # a Typer that needs more of them at import: load it the usual way
            _remove(missing)
            self._loader.exec_module(module)
        finally:
            _remove(missing)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... (inspect, linecache)
        return getattr(self._loader, name)


def _remove(names: list[str]) -> None:
    for name in names:
        if isinstance(sys.modules.get(name), _StandInModule):
            del sys.modules[name]


class _Finder:
    """Finds `typer.rich_utils` with the other finders and wraps its loader (once)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != TARGET:
            return None
        undefer()
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = None if find_spec is None else find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


_finder = _Finder()


def defer() -> None:
    """Let `typer.rich_utils`, when it is first imported, load without Markdown and tracebacks."""
    if TARGET in sys.modules or _finder in sys.meta_path:
        return
    if all(name in sys.modules for name in DEFERRED):  # already paid for
        return
    sys.meta_path.insert(0, _finder)


def undefer() -> None:
    """Take the finder out (it is taken out by itself when it is used)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
