"""The registry of agent kinds: the built-in ones (every public module of this package that
has a `KINDS` list), those of installed packages (entry point group `agenthost.agent_kinds`,
each naming an AgentKindSpec or a list of them) and those registered in code
(`register_agent_kind`). Backends are imported only when an agent of their kind is built."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from collections.abc import Iterable

import msgspec

from agenthost.config._types import suggestion
from agenthost.config.kinds._base import AgentKindConfig, AgentKindSpec
from agenthost.core.errors import ConfigError

ENTRY_POINT_GROUP = "agenthost.agent_kinds"

_kinds: dict[str, AgentKindSpec] = {}
_loaded = False


def register_agent_kind(spec: AgentKindSpec, *, replace: bool = False) -> None:
    """Add a kind (`replace=True` swaps an existing one, e.g. in tests)."""
    _ensure_loaded()
    _add(spec, replace=replace, origin="register_agent_kind")


def unregister_agent_kind(name: str) -> None:
    _ensure_loaded()
    _kinds.pop(name, None)


def agent_kinds() -> dict[str, AgentKindSpec]:
    """Every registered kind by name, built-in ones first."""
    _ensure_loaded()
    return dict(_kinds)


def agent_kind(name: str) -> AgentKindSpec:
    """The kind called `name`; a ConfigError listing the kinds (with "did you mean")."""
    kinds = agent_kinds()
    spec = kinds.get(name)
    if spec is None:
        raise ConfigError(
            f"Unknown agent kind {name!r}{suggestion(name, list(kinds)) or '.'} "
            f"Kinds: {', '.join(kinds)}."
        )
    return spec


def _add(spec: AgentKindSpec, *, replace: bool, origin: str) -> None:
    if not isinstance(spec, AgentKindSpec):
        raise ConfigError(f"{origin}: expected an AgentKindSpec, got {spec!r}.")
    config = spec.config
    if not (isinstance(config, type) and issubclass(config, AgentKindConfig)):
        raise ConfigError(f"{origin}: kind {spec.name!r}: config must subclass AgentKindConfig.")
    default = next(f.default for f in msgspec.structs.fields(config) if f.name == "kind")
    if default != spec.name:
        raise ConfigError(
            f"{origin}: kind {spec.name!r}: its config {config.__name__} must declare "
            f"`kind: Literal[{spec.name!r}] = {spec.name!r}`."
        )
    if spec.name in _kinds and not replace:
        raise ConfigError(f"{origin}: the agent kind {spec.name!r} is already registered.")
    _kinds[spec.name] = spec


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for specs, origin in [*_builtin(), *_installed()]:
        for spec in specs:
            _add(spec, replace=False, origin=origin)


def _builtin() -> list[tuple[Iterable[AgentKindSpec], str]]:
    import agenthost.config.kinds as package

    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    modules.sort(key=lambda m: getattr(m, "ORDER", 100))
    return [(getattr(m, "KINDS", []), m.__name__) for m in modules]


def _installed() -> list[tuple[Iterable[AgentKindSpec], str]]:
    found: list[tuple[Iterable[AgentKindSpec], str]] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name!r} ({entry.value}) in group {ENTRY_POINT_GROUP}"
        try:
            value = entry.load()
        except Exception as exc:
            raise ConfigError(f"Loading the {origin} failed: {type(exc).__name__}: {exc}") from exc
        found.append((value if isinstance(value, list | tuple) else [value], origin))
    return found
