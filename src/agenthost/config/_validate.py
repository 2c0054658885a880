"""Checking raw config data against the schema, with the path of every problem.

msgspec alone reports dict entries as `$.agents[...]`, without the agent's name, so the shape
is walked here first: unknown fields (with "did you mean"), missing fields, enum values and
each leaf value's type, each reported as `agents.helper.modle: unknown field; ...`. Then the
cross-references are checked (model aliases, providers, the default agent, tool refs).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import msgspec

from agenthost.config.schema import AgentHostConfig, suggestion
from agenthost.core.errors import ConfigError

PathKey = str | int
Path = tuple[PathKey, ...]
Problem = tuple[Path, str]

_MSGSPEC_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<sub>[^`]*)`)?$", re.S)
_SUB_KEY = re.compile(r"\.(\w+)|\[(\d+)\]")
_TOOL_REF = re.compile(r"^[A-Za-z_][\w.]*:(\*|[A-Za-z_][\w.]*)$")


def format_path(path: Path) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def kind_of(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


class ConfigSource:
    """Where data came from: a file name and the line of each path (from the YAML nodes)."""

    def __init__(self, name: str | None = None, lines: Mapping[Path, int] | None = None) -> None:
        self.name = name
        self.lines = dict(lines or {})

    def locate(self, path: Path) -> str:
        """'agenthost.yaml:12: ' for the path (or its nearest ancestor with a known line)."""
        if self.name is None:
            return ""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return f"{self.name}:{line}: "
        return f"{self.name}: "

    def error(self, problems: Sequence[Problem]) -> ConfigError:
        lines = [f"{self.locate(path)}{format_path(path)}: {msg}" for path, msg in problems]
        if len(lines) == 1:
            return ConfigError(lines[0])
        where = f" in {self.name}" if self.name else ""
        return ConfigError(f"{len(lines)} problems{where}:\n  " + "\n  ".join(lines))


# ---- shape -------------------------------------------------------------------------------


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return get_args(tp)
    return None


def check_shape(value: Any, tp: Any, path: Path, problems: list[Problem]) -> None:
    """Append a problem for every place where `value` does not fit type `tp`."""
    args = _union_args(tp)
    if args is not None and type(None) in args:
        if value is None:
            return
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            check_shape(value, rest[0], path, problems)
            return
    if _is_struct(tp):
        _check_struct(value, tp, path, problems)
        return
    origin = get_origin(tp)
    if origin is dict:
        if not isinstance(value, dict):
            what = "names to entries" if _is_struct(get_args(tp)[1]) else "keys to values"
            problems.append((path, f"expected a mapping of {what}, got {kind_of(value)}"))
            return
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((path, f"keys must be strings, got {key!r}"))
                continue
            check_shape(item, get_args(tp)[1], (*path, key), problems)
        return
    if origin is list:
        if not isinstance(value, list):
            problems.append((path, f"expected a list, got {kind_of(value)}"))
            return
        for index, item in enumerate(value):
            check_shape(item, get_args(tp)[0], (*path, index), problems)
        return
    if origin is Literal:
        if value not in get_args(tp):
            allowed = ", ".join(str(a) for a in get_args(tp))
            problems.append((path, f"invalid value {value!r}; expected one of: {allowed}"))
        return
    try:
        msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        match = _MSGSPEC_AT.match(str(exc))
        assert match is not None
        message = match.group("msg").replace("`array`", "a list").replace("`object`", "a mapping")
        message = message.replace("`", "")
        message = message[:1].lower() + message[1:]
        problems.append(((*path, *_sub_path(match.group("sub") or "")), message))


def _sub_path(sub: str) -> Path:
    """msgspec's '[0].x' (relative to the leaf) as path keys; '[...]' (a dict key) is dropped."""
    return tuple(
        int(index) if index else name for name, index in _SUB_KEY.findall(sub) if name or index
    )


def _check_struct(
    value: Any, tp: type[msgspec.Struct], path: Path, problems: list[Problem]
) -> None:
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    if not isinstance(value, dict):
        expected = ", ".join(fields)
        problems.append((path, f"expected a mapping (fields: {expected}), got {kind_of(value)}"))
        return
    for key, item in value.items():
        info = fields.get(key) if isinstance(key, str) else None
        if info is None:
            hint = suggestion(str(key), list(fields))
            problems.append(
                ((*path, str(key)), "unknown field" + (hint or f"; fields: {', '.join(fields)}"))
            )
            continue
        check_shape(item, info.type, (*path, key), problems)
    for name, info in fields.items():
        if info.required and name not in value:
            problems.append(((*path, name), "required field is missing"))


# ---- cross-references ----------------------------------------------------------------------


def _known_providers(config: AgentHostConfig) -> list[str]:
    from agenthost.backends.models.providers import KNOWN_PROVIDERS

    return sorted({*KNOWN_PROVIDERS, *config.providers})


def model_ref_problem(ref: str, config: AgentHostConfig, *, aliases: bool = True) -> str | None:
    """Why `ref` is not a usable model alias or 'provider:model' id (None when it is)."""
    if aliases and ref in config.models:
        return None
    provider, sep, name = ref.partition(":")
    if not sep or not provider or not name:
        known = list(config.models)
        if aliases:
            listed = f" Aliases: {', '.join(known)}." if known else ""
            return (
                f"{ref!r} is neither a model alias nor a 'provider:model' id"
                f"{suggestion(ref, known) or '.'} Write e.g. 'openai:gpt-4o-mini' or declare the "
                f"alias under models:.{listed}"
            )
        return f"{ref!r} is not a 'provider:model' id; write e.g. 'openai:gpt-4o-mini'"
    providers = _known_providers(config)
    if provider not in providers:
        return (
            f"unknown provider {provider!r} in {ref!r}{suggestion(provider, providers) or '.'} "
            f"Known providers: {', '.join(providers)}; declare others under providers: "
            f"with a base_url."
        )
    return None


def check_references(config: AgentHostConfig) -> list[Problem]:
    problems: list[Problem] = []
    if not config.app.strip():
        problems.append((("app",), "must not be empty"))
    url = config.store.url
    if url is not None and "://" not in url:
        problems.append(
            (
                ("store", "url"),
                f"{url!r} has no scheme; write e.g. 'sqlite:///{url}' or 'memory://'",
            )
        )
    for name, provider in config.providers.items():
        if provider.api_key is not None and provider.api_key_env is not None:
            problems.append((("providers", name), "set api_key_env or api_key, not both"))
        base = provider.base_url
        if base is not None and not base.startswith(("http://", "https://")):
            problems.append(
                (("providers", name, "base_url"), f"{base!r} must start with http:// or https://")
            )
    for alias, model in config.models.items():
        if (why := model_ref_problem(model.model, config, aliases=False)) is not None:
            problems.append((("models", alias, "model"), why))
        for i, ref in enumerate(model.fallbacks):
            if (why := model_ref_problem(ref, config)) is not None:
                problems.append((("models", alias, "fallbacks", i), why))
    for name, agent in config.agents.items():
        if agent.model is not None and (why := model_ref_problem(agent.model, config)):
            problems.append((("agents", name, "model"), why))
        for i, ref in enumerate(agent.tools):
            if not _TOOL_REF.match(ref):
                problems.append(
                    (
                        ("agents", name, "tools", i),
                        f"{ref!r} is not a tool ref; write 'package.module:function', "
                        f"'package.module:*' or 'demo:*'",
                    )
                )
    agents = list(config.effective_agents())
    if config.default_agent is not None and config.default_agent not in agents:
        wanted = config.default_agent
        problems.append(
            (
                ("default_agent",),
                f"unknown agent {wanted!r}{suggestion(wanted, agents) or '.'} Agents: "
                f"{', '.join(agents)}.",
            )
        )
    return problems
