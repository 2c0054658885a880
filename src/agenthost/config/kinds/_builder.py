"""AgentBuilder: what a kind's `build(name, config, builder)` is given to make its agent.

It resolves model refs (an alias with its fallbacks and settings, or a 'provider:model' id;
unset, the environment's model, see `auto_model`) into ChatModels, shared by id and opened by
whoever hosts the agent (`build_runtime`); loads tool, knowledge and object refs
('package.module:attribute'); builds the other agents of the file a composition names; and
reads API keys from the environment. Every failure is a ConfigError naming the field
(`agents.helper.model: ...`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from agenthost.core.errors import AgentHostError, ConfigError, InvalidArgument

if TYPE_CHECKING:
    from agenthost.backends.models.providers import ProviderSettings
    from agenthost.backends.tools.mcp import McpServer
    from agenthost.config.mcp import McpToolFilter
    from agenthost.config.schema import AgentHostConfig, ModelSettingsConfig
    from agenthost.ports.knowledge import KnowledgeBase
    from agenthost.ports.models import ChatModel, ModelSettings
    from agenthost.ports.protocol import Agent
    from agenthost.ports.tools import Tool

T = TypeVar("T")

OPENAI_DEFAULT = "openai:gpt-4o-mini"
LOCAL_DEFAULT = "local:smollm2"


def auto_model(env: Mapping[str, str] | None = None) -> str:
    """The model of an agent that names none: `AGENTHOST_MODEL` if set, else
    `openai:gpt-4o-mini` when `OPENAI_API_KEY` is set, else the embedded `local:smollm2`."""
    env = os.environ if env is None else env
    if model := env.get("AGENTHOST_MODEL"):
        return model
    if env.get("OPENAI_API_KEY"):
        return OPENAI_DEFAULT
    return LOCAL_DEFAULT


class AgentBuilder:
    """Builds the agents of one config (see the module docstring). `model_override` replaces
    the model of the agent called `top` (the CLI's `--model`)."""

    def __init__(
        self,
        config: AgentHostConfig,
        *,
        top: str | None = None,
        model_override: str | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
    ) -> None:
        self.config = config
        self.mcp_servers = dict(mcp_servers or {})  # the opened MCP servers (config/mcp.py)
        self._top = top
        self._override = model_override
        self.override_used = False
        self._models: dict[str, ChatModel] = {}
        self._building: list[str] = []

    @property
    def models_made(self) -> list[ChatModel]:
        """Every model the built agents use, once each (the host opens and closes them)."""
        return list(self._models.values())

    # ---- agents ----------------------------------------------------------------------------

    def agent(self, name: str) -> Agent:
        """Build the agent `name` of the config (a composition's parts call this)."""
        from agenthost.config.kinds._registry import agent_kind

        _, entry = self.config.select_agent(name)
        if name in self._building:
            cycle = " -> ".join([*self._building[self._building.index(name) :], name])
            raise ConfigError(f"agents.{name}: the agents refer to each other in a cycle: {cycle}")
        self._building.append(name)
        try:
            made: Agent = agent_kind(entry.kind).build(name, entry, self)
        finally:
            self._building.pop()
        return made

    def construct(self, agent: str, factory: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`factory(*args, **kwargs)`, its errors as ConfigErrors naming the agent."""
        try:
            return factory(*args, **kwargs)
        except AgentHostError as exc:
            raise ConfigError(f"agents.{agent}: {exc.message}") from exc

    # ---- models ----------------------------------------------------------------------------

    def models(
        self, name: str, ref: str | None, *, field: str = "model"
    ) -> tuple[list[ChatModel], ModelSettings | None]:
        """The models to try in order and their settings for agent `name`'s model ref (None:
        the environment's model)."""
        ids, settings, where = self._model_chain(name, ref, field)
        models = [self._model(model_id, where) for model_id in ids]
        alias = self.config.models.get(ref) if ref is not None else None
        if alias is not None:
            apply_input_config(models, alias.input, alias.unsupported_input)
        return models, settings

    def _model_chain(
        self, name: str, ref: str | None, field: str
    ) -> tuple[list[str], ModelSettings | None, str]:
        from agenthost.config._validate import model_ref_problem

        if self._override is not None and name == self._top:
            self.override_used = True
            where, ref = "--model (model_override)", self._override
        elif ref is not None:
            where = f"agents.{name}.{field}"
        else:
            where, ref = f"agents.{name}.{field} (chosen from the environment)", auto_model()
        why = model_ref_problem(ref, self.config)
        if why is not None:
            raise ConfigError(f"{where}: {why}")
        alias = self.config.models.get(ref)
        if alias is None:
            return [ref], None, where
        ids = [alias.model]
        for fallback in alias.fallbacks:
            target = self.config.models.get(fallback)
            ids.append(target.model if target is not None else fallback)
        return list(dict.fromkeys(ids)), model_settings(alias.settings), f"models.{ref}"

    def _model(self, model_id: str, where: str) -> ChatModel:
        from agenthost.backends.models import infer_model

        model = self._models.get(model_id)
        if model is None:
            try:
                model = infer_model(model_id, providers=provider_settings(self.config))
            except (ConfigError, InvalidArgument) as exc:
                raise ConfigError(f"{where}: model {model_id!r}: {exc.message}") from exc
            self._models[model_id] = model
        return model

    # ---- refs ------------------------------------------------------------------------------

    def tools(
        self,
        name: str,
        refs: Sequence[str],
        *,
        field: str = "tools",
        mcp: Mapping[str, McpToolFilter] | None = None,
    ) -> list[Tool]:
        """Tool refs ('mcp:NAME' among them) and `mcp:` filters as tools (config/mcp.py)."""
        from agenthost.config.mcp import agent_tools

        return agent_tools(name, refs, mcp or {}, self.mcp_servers, field=field)

    def knowledge(
        self, name: str, refs: Sequence[str], *, field: str = "knowledge"
    ) -> list[KnowledgeBase]:
        """Knowledge bases named by 'package.module:attribute' refs (a base or a list)."""
        from agenthost.ports.knowledge import KnowledgeBase

        bases: list[KnowledgeBase] = []
        for index, ref in enumerate(refs):
            where = f"agents.{name}.{field}[{index}]"
            found = self.object(ref, where=where)
            for value in found if isinstance(found, list | tuple) else [found]:
                if not isinstance(value, KnowledgeBase):
                    raise ConfigError(
                        f"{where}: {ref!r} is {type(value).__name__}, not a knowledge base "
                        f"(an object with `id` and `retrieve()`, e.g. InMemoryKnowledgeBase)."
                    )
                bases.append(value)
        return bases

    def object(self, ref: str, *, where: str) -> Any:
        """What 'package.module:attribute' names, imported now."""
        from agenthost.config.tools import load_object

        return load_object(ref, where=where)

    def api_key(self, name: str, api_key: str | None, api_key_env: str | None) -> str | None:
        """`api_key`, else the value of the environment variable `api_key_env` (which must be
        set), else None."""
        if api_key is not None or api_key_env is None:
            return api_key
        value = os.environ.get(api_key_env)
        if not value:
            raise ConfigError(
                f"agents.{name}.api_key_env: the environment variable {api_key_env} is not set."
            )
        return value


def apply_input_config(
    models: Sequence[ChatModel],
    accepts: Sequence[str] | None,
    on_unsupported: Literal["error", "text"] | None,
) -> None:
    """Set what each model takes (`models.<alias>.input`, `.unsupported_input`)."""
    if accepts is None and on_unsupported is None:
        return
    from agenthost.backends.models._input import ANY_INPUT, InputPolicy

    for model in models:
        target: Any = model
        if not hasattr(target, "input_policy"):
            continue  # a model object that decides for itself
        current = target.input_policy or ANY_INPUT
        target.input_policy = InputPolicy(
            accepts=frozenset(accepts) | {"text"} if accepts is not None else current.accepts,
            on_unsupported=on_unsupported or current.on_unsupported,
        )


def model_settings(settings: ModelSettingsConfig | None) -> ModelSettings | None:
    from agenthost.ports.models import ModelSettings

    if settings is None:
        return None
    return ModelSettings(
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.timeout,
        tool_choice=settings.tool_choice,
        extra=dict(settings.extra),
    )


def provider_settings(config: AgentHostConfig) -> dict[str, ProviderSettings]:
    """The config's providers, as the model backends take them."""
    from agenthost.backends.models.providers import ProviderSettings
    from agenthost.core.usage import Price

    return {
        name: ProviderSettings(
            base_url=p.base_url,
            api_key=p.api_key,
            api_key_env=p.api_key_env,
            prices={
                m: Price(input_per_mtok=v.input_per_mtok, output_per_mtok=v.output_per_mtok)
                for m, v in p.prices.items()
            },
            timeout=p.timeout,
            headers=dict(p.headers),
            options=dict(p.options),
            transport=p.transport,
            ca_file=p.ca_file,
        )
        for name, p in config.providers.items()
    }
