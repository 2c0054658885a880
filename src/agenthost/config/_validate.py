"""Checking raw config data against the schema, with the path of every problem.

msgspec alone reports dict entries as `$.agents[...]`, without the agent's name, so the shape
is walked here first: unknown fields (with "did you mean"), missing fields, enum values and
each leaf value's type, each reported as `agents.helper.modle: unknown field; ...`. An agent
entry is checked against the config struct of its `kind` (default `llm`, see config/kinds/).
Then the cross-references are checked (model aliases, providers, the default agent, tool refs,
the agents a composition names, each kind's own checks).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

import msgspec

from agenthost.config._types import FieldPath, Problem, suggestion
from agenthost.config.channels import ChannelInputConfig, ChannelOutputConfig
from agenthost.config.kinds._base import AgentKindConfig
from agenthost.config.knowledge import knowledge_problems
from agenthost.config.mcp import server_problems as mcp_server_problems
from agenthost.core.errors import ConfigError

if TYPE_CHECKING:
    from agenthost.config.schema import AgentHostConfig

Path = FieldPath
DEFAULT_KIND = "llm"

_MSGSPEC_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<sub>[^`]*)`)?$", re.S)
_SUB_KEY = re.compile(r"\.(\w+)|\[(\d+)\]")
_TOOL_REF = re.compile(r"^[A-Za-z_][\w.]*:(\*|[A-Za-z_][\w.]*)$")
_OBJECT_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


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

    def warn(self, path: Path, note: str) -> None:
        """A FutureWarning for something that still loads but will not (shown by the CLI)."""
        import warnings

        warnings.warn(f"{self.locate(path)}{format_path(path)}: {note}", FutureWarning, 2)

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
    if tp is AgentKindConfig:
        _check_agent(value, path, problems)
        return
    if tp is ChannelInputConfig or tp is ChannelOutputConfig:
        _check_channel(value, "input" if tp is ChannelInputConfig else "output", path, problems)
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


UnknownField = Callable[[str, list[str]], str]


def _unknown_field(key: str, fields: list[str]) -> str:
    return "unknown field" + (suggestion(key, fields) or f"; fields: {', '.join(fields)}")


def _check_struct(
    value: Any,
    tp: type[msgspec.Struct],
    path: Path,
    problems: list[Problem],
    unknown: UnknownField = _unknown_field,
) -> None:
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    if not isinstance(value, dict):
        expected = ", ".join(fields)
        problems.append((path, f"expected a mapping (fields: {expected}), got {kind_of(value)}"))
        return
    for key, item in value.items():
        info = fields.get(key) if isinstance(key, str) else None
        if info is None:
            problems.append(((*path, str(key)), unknown(str(key), list(fields))))
            continue
        check_shape(item, info.type, (*path, key), problems)
    for name, info in fields.items():
        if info.required and name not in value:
            problems.append(((*path, name), "required field is missing"))


def _check_agent(value: Any, path: Path, problems: list[Problem]) -> None:
    """An agent entry, against the config struct of its kind."""
    from agenthost.config.kinds import agent_kinds

    kinds = agent_kinds()
    kind = value.get("kind", DEFAULT_KIND) if isinstance(value, dict) else DEFAULT_KIND
    spec = kinds.get(kind) if isinstance(kind, str) else None
    if spec is None:
        hint = suggestion(kind, list(kinds)) if isinstance(kind, str) else ""
        problems.append(
            ((*path, "kind"), f"invalid value {kind!r}; expected one of: {', '.join(kinds)}{hint}")
        )
        return

    def unknown(key: str, fields: list[str]) -> str:
        hint = suggestion(key, fields)
        if hint or not any(key in other.fields() for other in kinds.values()):
            return _unknown_field(key, fields)
        return (
            f"not a setting of kind {spec.name!r}; its settings are "
            f"{', '.join(f for f in fields if f != 'kind')} (see docs/config.md)"
        )

    _check_struct(value, spec.config, path, problems, unknown)


def _check_channel(
    value: Any, direction: Literal["input", "output"], path: Path, problems: list[Problem]
) -> None:
    """A channel input or output entry, against the config struct of its `type`."""
    from agenthost.config.channels import channel_types

    types = channel_types(direction)
    kind = value.get("type") if isinstance(value, dict) else None
    spec = types.get(kind) if isinstance(kind, str) else None
    if spec is None:
        hint = suggestion(kind, list(types)) if isinstance(kind, str) else ""
        what = "missing" if kind is None else f"invalid value {kind!r}"
        problems.append(((*path, "type"), f"{what}; {direction} types: {', '.join(types)}{hint}"))
        return
    _check_struct(value, spec.config, path, problems)


def _decode_channels(raw: dict[str, Any]) -> Any:
    from agenthost.config.channels import ChannelsConfig, channel_types

    rest = {k: v for k, v in raw.items() if k not in ("inputs", "outputs")}
    section = msgspec.convert(rest, ChannelsConfig, strict=False)
    decoded: dict[str, Any] = {}
    for direction, field in (("input", "inputs"), ("output", "outputs")):
        types = channel_types(direction)  # type: ignore[arg-type]
        decoded[field] = {
            name: msgspec.convert(entry, types[entry["type"]].config, strict=False)
            for name, entry in (raw.get(field) or {}).items()
        }
    return msgspec.structs.replace(section, **decoded)


def decode_config(raw: dict[str, Any]) -> AgentHostConfig:
    """`raw` (already checked with `check_shape`) as an AgentHostConfig: each agent entry
    decoded with its kind's struct."""
    from agenthost.config.kinds import agent_kind
    from agenthost.config.schema import AgentHostConfig

    rest = {k: v for k, v in raw.items() if k not in ("agents", "channels")}
    config = msgspec.convert(rest, AgentHostConfig, strict=False)
    if raw.get("channels") is not None:
        config = msgspec.structs.replace(config, channels=_decode_channels(raw["channels"]))
    entries: dict[str, Any] = raw.get("agents") or {}
    agents = {
        name: msgspec.convert(
            entry, agent_kind(entry.get("kind", DEFAULT_KIND)).config, strict=False
        )
        for name, entry in entries.items()
    }
    return msgspec.structs.replace(config, agents=agents)


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
    for i, ref in enumerate(config.cluster.worker_after_run):
        if (why := object_ref_problem(ref)) is not None:
            problems.append((("cluster", "worker_after_run", i), why))
    problems.extend(_agent_problems(config))
    problems.extend(mcp_server_problems(config))
    problems.extend(_channel_problems(config))
    problems.extend(knowledge_problems(config))
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


def _channel_problems(config: AgentHostConfig) -> list[Problem]:
    """The `channels:` section's names: its agent, routes, reply_to, secrets."""
    section = config.channels
    if section is None:
        return []
    problems: list[Problem] = []
    agents = list(config.effective_agents())
    if section.agent is not None and section.agent not in agents:
        problems.append(
            (
                ("channels", "agent"),
                f"unknown agent {section.agent!r}{suggestion(section.agent, agents) or '.'} "
                f"Agents: {', '.join(agents)}.",
            )
        )
    outputs = list(section.outputs)
    inputs = list(section.inputs)

    def known(where: Path, name: str, names: list[str], what: str) -> None:
        if name not in names:
            listed = ", ".join(names) or "none"
            problems.append(
                (
                    where,
                    f"unknown {what} {name!r}{suggestion(name, names) or '.'} "
                    f"{what.capitalize()}s: {listed}.",
                )
            )

    for name, entry in section.inputs.items():
        if entry.reply_to is not None:
            known(("channels", "inputs", name, "reply_to"), entry.reply_to, outputs, "output")
    for index, route in enumerate(section.routes):
        for i, out in enumerate(route.outputs):
            known(("channels", "routes", index, "outputs", i), out, outputs, "output")
        for i, inp in enumerate(route.inputs):
            known(("channels", "routes", index, "inputs", i), inp, inputs, "input")
    entries: list[tuple[str, str, Any]] = [
        *(("inputs", n, e) for n, e in section.inputs.items()),
        *(("outputs", n, e) for n, e in section.outputs.items()),
    ]
    for field, name, entry in entries:
        if getattr(entry, "secret", None) and getattr(entry, "secret_env", None):
            problems.append((("channels", field, name), "set secret_env or secret, not both"))
    return problems


def _agent_problems(config: AgentHostConfig) -> list[Problem]:
    """Each agent's own checks, and the agents compositions name (known, no cycle)."""
    from agenthost.config.kinds import agent_kinds

    kinds = agent_kinds()
    problems: list[Problem] = []
    names = list(config.agents)
    for name, agent in config.agents.items():
        where: Path = ("agents", name)
        if not isinstance(agent, AgentKindConfig) or agent.kind not in kinds:
            problems.append((where, f"not an agent config of a registered kind: {agent!r}"))
            continue
        problems.extend(((*where, *sub), why) for sub, why in agent.problems(config))
        for sub, ref in agent.references():
            if ref == name:
                problems.append(((*where, *sub), f"an agent cannot contain itself ({ref!r})"))
            elif ref not in config.agents:
                problems.append(
                    (
                        (*where, *sub),
                        f"unknown agent {ref!r}{suggestion(ref, names) or '.'} Agents: "
                        f"{', '.join(names)}.",
                    )
                )
    if not problems:
        problems.extend(_cycles(config))
    return problems


def _cycles(config: AgentHostConfig) -> list[Problem]:
    """One problem per composition that contains itself through other agents."""
    parts = {name: [ref for _, ref in agent.references()] for name, agent in config.agents.items()}
    problems: list[Problem] = []
    for start in parts:
        path = _path_back(start, start, parts, [start], set())
        if path is not None:
            problems.append(
                (("agents", start), f"the agents contain each other: {' -> '.join(path)}")
            )
    return problems


def _path_back(
    start: str, at: str, parts: dict[str, list[str]], path: list[str], seen: set[str]
) -> list[str] | None:
    for ref in parts.get(at, []):
        if ref == start:
            return [*path, ref]
        if ref not in seen:
            seen.add(ref)
            found = _path_back(start, ref, parts, [*path, ref], seen)
            if found is not None:
                return found
    return None


def model_problems(ref: str | None, config: AgentHostConfig) -> list[Problem]:
    """A kind's `model` field (paths relative to the agent entry)."""
    why = None if ref is None else model_ref_problem(ref, config)
    return [] if why is None else [(("model",), why)]


def tool_ref_problems(refs: Sequence[str], field: str = "tools") -> list[Problem]:
    """A kind's tool refs (paths relative to the agent entry)."""
    return [
        (
            (field, i),
            f"{ref!r} is not a tool ref; write 'package.module:function', "
            f"'package.module:*' or 'demo:*'",
        )
        for i, ref in enumerate(refs)
        if not _TOOL_REF.match(ref)
    ]


def object_ref_problem(ref: str) -> str | None:
    """Why `ref` is not a 'package.module:attribute' ref (None when it is)."""
    if _OBJECT_REF.match(ref):
        return None
    return f"{ref!r} is not an object ref; write 'package.module:attribute' (e.g. 'myapp:agent')"
