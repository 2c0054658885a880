"""Tool refs from config: 'package.module:function', 'package.module:*', 'demo:get_weather'.

- `module:name` imports the module and takes the attribute (a function, a Tool, or a list of
  them). Dotted attributes work: `module:Class.method`.
- `module:*` takes every tool of the module: its `TOOLS` list (or `<NAME>_TOOLS`, e.g.
  `DEMO_TOOLS` in `demo`) if it has one, else the functions named in `__all__`.
- A module name without a dot is first looked up among the bundled tool modules
  (`agenthost.backends.tools.<name>`), so `demo:*` means every demo tool.

Every failure is a ConfigError naming the config field (`agents.helper.tools[1]`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from agenthost.config._types import suggestion
from agenthost.core.errors import ConfigError
from agenthost.engine.catalog import as_tool
from agenthost.ports.tools import Tool

BUNDLED = "agenthost.backends.tools."


def load_tools(refs: Sequence[str], *, where: str = "tools") -> list[Tool]:
    """The tools the refs name, in order (duplicates by name are an error)."""
    tools: list[Tool] = []
    seen: dict[str, str] = {}
    for index, ref in enumerate(refs):
        field = f"{where}[{index}]"
        for tool in load_tool_ref(ref, where=field):
            name = tool.spec.name
            if name in seen:
                raise ConfigError(
                    f"{field}: {ref!r} adds a second tool named {name!r} (the first came from "
                    f"{seen[name]}). Remove one of the refs."
                )
            seen[name] = field
            tools.append(tool)
    return tools


def load_tool_ref(ref: str, *, where: str = "tool") -> list[Tool]:
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"{where}: {ref!r} is not a tool ref; write 'package.module:function', "
            f"'package.module:*' or 'demo:*'."
        )
    module = _import(module_name, ref, where)
    if attr == "*":
        values = _everything(module, ref, where)
    else:
        value = _attribute(module, attr, ref, where)
        values = list(value) if isinstance(value, list | tuple) else [value]
    tools: list[Tool] = []
    for value in values:
        try:
            tools.append(as_tool(value))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {ref!r}: {exc.message}") from exc
    return tools


def load_object(ref: str, *, where: str) -> Any:
    """The object a 'package.module:attribute' ref names (a framework agent, a knowledge base,
    ...), imported now; a ConfigError naming `where` when it is not there."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr or attr == "*":
        raise ConfigError(
            f"{where}: {ref!r} is not an object ref; write 'package.module:attribute' "
            f"(e.g. 'myapp.agents:graph')."
        )
    return _attribute(_import(module_name, ref, where), attr, ref, where)


def _import(module_name: str, ref: str, where: str) -> ModuleType:
    name = module_name
    if "." not in module_name and importlib.util.find_spec(BUNDLED + module_name) is not None:
        name = BUNDLED + module_name
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and not name.startswith(exc.name):
            raise ConfigError(
                f"{where}: importing {name!r} for {ref!r} failed: {exc}. Install the missing "
                f"package."
            ) from exc
        raise ConfigError(
            f"{where}: no module {name!r} (from {ref!r}). Check the spelling; the module must "
            f"be installed or importable from the working directory."
        ) from exc
    except Exception as exc:
        raise ConfigError(
            f"{where}: importing {name!r} for {ref!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _attribute(module: ModuleType, attr: str, ref: str, where: str) -> Any:
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            public = [n for n in dir(value) if not n.startswith("_")]
            raise ConfigError(
                f"{where}: {module.__name__!r} has no attribute {part!r} (from {ref!r})"
                f"{suggestion(part, public)}"
            ) from None
    return value


def _everything(module: ModuleType, ref: str, where: str) -> list[Any]:
    short = module.__name__.rpartition(".")[2].upper()
    for name in ("TOOLS", f"{short}_TOOLS"):  # e.g. demo.DEMO_TOOLS
        listed = getattr(module, name, None)
        if listed is not None:
            return list(listed)
    names = getattr(module, "__all__", None)
    if names is None:
        raise ConfigError(
            f"{where}: {ref!r} needs the module {module.__name__!r} to define TOOLS (a list "
            f"of tools) or __all__; name the tools one by one instead ('module:function')."
        )
    values = [getattr(module, n) for n in names]
    found = [v for v in values if inspect.isroutine(v) or (_is_instance(v) and isinstance(v, Tool))]
    if not found:
        raise ConfigError(f"{where}: {ref!r}: the module {module.__name__!r} has no tools.")
    return found


def _is_instance(value: Any) -> bool:
    return not isinstance(value, type)
