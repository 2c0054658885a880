"""Loading `agenthost.yaml`: YAML -> `${VAR}` interpolation -> schema -> references -> env.

`load_config(path)` reads a file (None: `./agenthost.yaml` if present, else the built-in
defaults); `parse_config(data)` does the same for a dict. Every error is a `ConfigError` that
names the file, the line and the field path, e.g.::

    agenthost.yaml:7: agents.helper.modle: unknown field; did you mean 'model'?

Environment overrides, applied last:

    AGENTHOST_STORE          the store URL (store.url)
    AGENTHOST_DEFAULT_AGENT  which agent runs when none is named (default_agent)
    AGENTHOST_MODEL          the default agent's model (an alias or a 'provider:model' id);
                             with several agents and no default agent, the model of every
                             agent that names none
    AGENTHOST_HOME           where data lives (default store, logs); `${AGENTHOST_HOME}` works
                             in the file even when unset
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from agenthost.config._interpolate import interpolate
from agenthost.config._legacy import drop_ignored_fields
from agenthost.config._types import FieldPath, Problem, suggestion
from agenthost.config._validate import (
    ConfigSource,
    check_references,
    check_shape,
    decode_config,
    model_ref_problem,
)
from agenthost.config.paths import HOME_ENV, home_dir
from agenthost.config.schema import AgentHostConfig
from agenthost.core.errors import ConfigError

DEFAULT_FILE = "agenthost.yaml"
ENV_STORE = "AGENTHOST_STORE"
ENV_MODEL = "AGENTHOST_MODEL"
ENV_DEFAULT_AGENT = "AGENTHOST_DEFAULT_AGENT"


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> AgentHostConfig:
    """The config in `path`; None: `./agenthost.yaml` if it exists, else the defaults."""
    env = os.environ if env is None else env
    if path is None:
        if not Path(DEFAULT_FILE).is_file():
            return parse_config({}, env=env)
        path = DEFAULT_FILE
    file = Path(path)
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {name!r} was not found (working directory: {Path.cwd()}). Fix the "
            f"path, create the file, or leave out --config to use the built-in defaults."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {name!r}: {exc}") from exc
    data, lines = read_yaml(text, name)
    return parse_config(data, env=env, source=ConfigSource(name, lines))


def parse_config(
    data: Mapping[str, Any] | None,
    *,
    env: Mapping[str, str] | None = None,
    source: ConfigSource | None = None,
) -> AgentHostConfig:
    """Validate config data (as loaded from YAML) and apply the environment overrides."""
    env = os.environ if env is None else env
    source = source or ConfigSource()
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise source.error(
            [((), f"the config must be a mapping (app:, agents:, ...), got {type(data).__name__}")]
        )
    problems: list[Problem] = []
    scope = {**env, HOME_ENV: str(home_dir(env))}
    raw = interpolate(dict(data), scope, (), problems)
    if problems:
        raise source.error(problems)
    if isinstance(raw.get("store"), str):  # `store: sqlite:///x.db` is short for {url: ...}
        raw["store"] = {"url": raw["store"]}
    notes = drop_ignored_fields(raw)
    check_shape(raw, AgentHostConfig, (), problems)
    if problems:
        raise source.error(problems)
    for path, note in notes:
        source.warn(path, note)
    config = decode_config(raw)
    problems = check_references(config)
    if problems:
        raise source.error(problems)
    return apply_env_overrides(config, env)


def apply_env_overrides(config: AgentHostConfig, env: Mapping[str, str]) -> AgentHostConfig:
    """AGENTHOST_STORE, AGENTHOST_DEFAULT_AGENT and AGENTHOST_MODEL, checked like the file."""
    replace = msgspec.structs.replace
    if store := env.get(ENV_STORE):
        if "://" not in store:
            raise ConfigError(
                f"{ENV_STORE}={store!r} has no scheme; write e.g. 'sqlite:///{store}' or "
                f"'memory://'."
            )
        config = replace(config, store=replace(config.store, url=store))
    if agent := env.get(ENV_DEFAULT_AGENT):
        names = list(config.effective_agents())
        if agent not in names:
            raise ConfigError(
                f"{ENV_DEFAULT_AGENT}={agent!r}: unknown agent{suggestion(agent, names) or '.'} "
                f"Agents: {', '.join(names)}."
            )
        config = replace(config, default_agent=agent)
    if model := env.get(ENV_MODEL):
        why = model_ref_problem(model, config)
        if why is not None:
            raise ConfigError(f"{ENV_MODEL}: {why}")
        config = _with_default_model(config, model)
    return config


def _with_default_model(config: AgentHostConfig, model: str) -> AgentHostConfig:
    """AGENTHOST_MODEL as the default agent's model (when its kind takes one). With several
    agents and no default agent there is none to change: AGENTHOST_MODEL is then the model of
    the agents that name none (`auto_model`), and the agent to run is picked with --agent."""
    from agenthost.config.kinds import agent_kind

    agents = config.effective_agents()
    try:
        name = config.default_agent_name()
    except ConfigError:
        return config
    agent = agents[name]
    if "model" not in agent_kind(agent.kind).fields():
        return config  # a remote platform or a composition: its models are not ours to pick
    agents = {**agents, name: msgspec.structs.replace(agent, model=model)}
    return msgspec.structs.replace(config, agents=agents)


# ---- YAML --------------------------------------------------------------------------------


def read_yaml(text: str, name: str) -> tuple[Any, dict[FieldPath, int]]:
    """The document in `text` and the line of every path in it; syntax errors and duplicate
    keys are ConfigErrors with the line."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[FieldPath, int] = {}
        problems: list[Problem] = []
        _index_lines(node, (), lines, problems)
        if problems:
            raise ConfigSource(name, lines).error(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        detail = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(
            f"{where}: YAML syntax error: {detail}. Check the indentation and quoting there "
            f"(a value with ': ' or '#' needs quotes)."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: YAML error: {exc}") from None
    finally:
        loader.dispose()
    return data, lines


def _index_lines(
    node: Any, path: FieldPath, lines: dict[FieldPath, int], problems: list[Problem]
) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key_path = (*path, key_node.value)
            line = key_node.start_mark.line + 1
            if key_path in lines:
                problems.append(
                    (key_path, f"duplicate key on line {line} (first on line {lines[key_path]})")
                )
                continue
            lines[key_path] = line
            _index_lines(value_node, key_path, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _index_lines(item, (*path, index), lines, problems)
