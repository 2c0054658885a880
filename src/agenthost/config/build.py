"""From config to a running Runner: `async with build_runtime(config) as rt: rt.runner.run(...)`.

`build_runtime` picks the agent (the default one unless named), resolves its model chain
(alias -> model + fallbacks + settings, or a 'provider:model' id; `model_override` replaces
it), loads its tools, opens the session store and the models, and closes them all on exit.
Everything that can be wrong in the config is checked before anything is opened.

An agent without a model gets one from the environment: `AGENTHOST_MODEL` if set, else
`openai:gpt-4o-mini` when `OPENAI_API_KEY` is set (`OPENAI_BASE_URL` is honoured by the
provider), else the embedded `local:smollm2` (no key, no network).

The same can be done by hand: `Runner(LLMAgent(model="openai:gpt-4o-mini", tools=[f]),
store=store)` -- the config is a convenience over those two constructors, not a layer of its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agenthost.config._validate import ConfigSource, check_references, model_ref_problem
from agenthost.config.paths import default_store_url, home_dir
from agenthost.config.schema import KIND_FIELDS, AgentConfig, AgentHostConfig, ModelSettingsConfig
from agenthost.config.tools import load_tools
from agenthost.core.errors import AgentHostError, ConfigError, InvalidArgument
from agenthost.core.usage import Price
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.ports.models import ChatModel, ModelSettings
from agenthost.ports.protocol import Agent, HostAPI, Manifest, ResultBatch, RunContext, RunFailed

if TYPE_CHECKING:
    from agenthost.backends.models.providers import ProviderSettings
    from agenthost.backends.sessions import SessionBackend

log = logging.getLogger("agenthost.config")

OPENAI_DEFAULT = "openai:gpt-4o-mini"
LOCAL_DEFAULT = "local:smollm2"


@dataclass(slots=True, kw_only=True)
class Runtime:
    """What `build_runtime` gives: the runner with the chosen agent, and what it opened."""

    config: AgentHostConfig
    agent_name: str
    agent: Agent
    runner: Runner
    store: SessionBackend
    models: list[ChatModel]
    home: Path

    @property
    def model_id(self) -> str:
        """The agent's first model ('provider:model'), or its kind for a remote platform."""
        return self.models[0].name if self.models else f"{self.agent_kind} (remote)"

    @property
    def agent_kind(self) -> str:
        return self.config.select_agent(self.agent_name)[1].kind


def auto_model(env: Mapping[str, str] | None = None) -> str:
    """The model of an agent that names none (see the module docstring)."""
    env = os.environ if env is None else env
    if model := env.get("AGENTHOST_MODEL"):
        return model
    if env.get("OPENAI_API_KEY"):
        return OPENAI_DEFAULT
    return LOCAL_DEFAULT


@asynccontextmanager
async def build_runtime(
    config: AgentHostConfig | None = None,
    *,
    agent: str | None = None,
    model_override: str | None = None,
    store: SessionBackend | None = None,
    app: str | None = None,
) -> AsyncIterator[Runtime]:
    """Open the store and models of `agent` (default: the config's default agent) and give
    a Runtime whose `runner` runs it; everything is closed on exit.

    `store`: use this opened store (the caller's) instead of opening the config's. `app`: the
    runner's app name (default `agent_app(config, agent)`, as the server names it, so the CLI
    and the server see the same sessions)."""
    config = config if config is not None else AgentHostConfig()
    problems = check_references(config)  # a config built in code gets the file's checks
    if problems:
        raise ConfigSource().error(problems)
    name, agent_config = config.select_agent(agent)
    if agent_config.kind == "llm":
        model_ids, settings, where = _model_chain(config, name, agent_config, model_override)
        models = _infer_models(config, model_ids, where)
    else:
        models, settings = [], None
    tools = load_tools(agent_config.tools, where=f"agents.{name}.tools")
    home = home_dir()
    async with AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(open_store(config, home=home))
        for model in models:
            await stack.enter_async_context(model)
        built: Agent = (
            _llm_agent(name, agent_config, models, tools, settings)
            if agent_config.kind == "llm"
            else platform_agent(name, agent_config, tools)
        )
        runner = Runner(
            built,
            store=store,
            app=app if app is not None else agent_app(config, name),
            busy_policy=config.runner.busy_policy,
            timeout=config.runner.timeout,
        )
        await stack.enter_async_context(runner)  # opens and closes what the agent owns
        log.info(
            "runtime ready: agent %s (%s), model %s, app %s",
            name,
            agent_config.kind,
            models[0].name if models else "-",
            config.app,
        )
        yield Runtime(
            config=config,
            agent_name=name,
            agent=built,
            runner=runner,
            store=store,
            models=models,
            home=home,
        )


def agent_app(config: AgentHostConfig, agent: str) -> str:
    """The app name `build_runtimes` gives an agent's runner: `<config.app>/<agent>`."""
    return f"{config.app}/{agent}"


@asynccontextmanager
async def build_runtimes(
    config: AgentHostConfig | None = None, *, agents: list[str] | None = None
) -> AsyncIterator[dict[str, Runtime]]:
    """A Runtime for each agent (default: every agent of the config), by name, over ONE
    opened store; everything is closed on exit.

    Each agent is its own app (`agent_app`: `<config.app>/<agent>`), so its sessions, session
    locks and `app:` state are its own: one server hosting several agents never lets two
    runners write the same session."""
    config = config if config is not None else AgentHostConfig()
    names = list(config.effective_agents()) if agents is None else agents
    for name in names:
        config.select_agent(name)  # an unknown name fails before anything is opened
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(config))
        runtimes: dict[str, Runtime] = {}
        for name in names:
            runtimes[name] = await stack.enter_async_context(
                build_runtime(config, agent=name, store=store, app=agent_app(config, name))
            )
        yield runtimes


@asynccontextmanager
async def open_store(
    config: AgentHostConfig | None = None, *, home: Path | None = None
) -> AsyncIterator[SessionBackend]:
    """The config's session store, opened (the default SQLite file under the home dir)."""
    from agenthost.backends.sessions import open_session_store, redact_store_url

    config = config if config is not None else AgentHostConfig()
    url = config.store.url or default_store_url(home or home_dir())
    options: dict[str, Any] = {}
    if config.store.max_events is not None:
        options["max_events"] = config.store.max_events
    if config.store.ttl_seconds is not None:
        options["ttl_seconds"] = config.store.ttl_seconds
    try:
        store = open_session_store(url, **options)
    except (ConfigError, InvalidArgument) as exc:
        raise ConfigError(f"store.url: {exc.message}") from exc
    log.debug("opening store %s", redact_store_url(url))
    async with store as opened:
        yield opened


class _SessionsOnly:
    """The agent of a runner that only lists, shows and deletes sessions."""

    manifest = Manifest(id="agenthost:sessions", name="sessions")

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        yield RunFailed(
            error="this runner only manages sessions; use build_runtime to run agents",
            code="config_error",
        )


@asynccontextmanager
async def open_sessions(
    config: AgentHostConfig | None = None, *, agent: str | None = None
) -> AsyncIterator[Runner]:
    """A Runner over the config's store with no agent and no models, for `list_sessions`,
    `get_session` (which marks runs a dead process left open as interrupted) and
    `delete_session` of one agent's sessions (default: the default agent's)."""
    config = config if config is not None else AgentHostConfig()
    name, _ = config.select_agent(agent)
    async with open_store(config) as store:
        yield Runner(_SessionsOnly(), store=store, app=agent_app(config, name))


# ---- pieces ------------------------------------------------------------------------------


def _plugin_agent(name: str, settings: dict[str, Any]) -> Agent:
    import msgspec

    from agenthost.backends.plugins import PluginAgent
    from agenthost.ports.protocol import Permissions

    allowed = settings.pop("allowed_permissions", None)
    if allowed is not None:
        try:
            settings["allowed_permissions"] = msgspec.convert(allowed, Permissions)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"agents.{name}.allowed_permissions: {exc}") from exc
    command = settings.pop("command", None)
    try:
        made: Agent = PluginAgent(command, name=name, **settings)
    except AgentHostError as exc:
        raise ConfigError(f"agents.{name}: {exc.message}") from exc
    return made


PLATFORM_CLASSES = {
    "dify": "DifyAgent",
    "coze": "CozeAgent",
    "bailian": "BailianAgent",
    "a2a": "A2AAgent",
}


def platform_agent(name: str, agent: AgentConfig, tools: list[Any]) -> Agent:
    """A Dify, Coze, Bailian or remote A2A agent from its config entry (settings checked per
    kind)."""
    kind = agent.kind
    settings = agent.platform_settings()
    allowed = KIND_FIELDS[kind]
    for field in settings:
        if field != "api_key_env" and field not in allowed:
            raise ConfigError(
                f"agents.{name}.{field}: not a setting of kind {kind!r}; its settings are "
                f"{', '.join(sorted(allowed))} (see docs/agents.md)."
            )
    env_name = settings.pop("api_key_env", None)
    if env_name is not None and "api_key" not in settings:
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(
                f"agents.{name}.api_key_env: the environment variable {env_name} is not set."
            )
        settings["api_key"] = value
    if tools:
        if kind != "coze":
            raise ConfigError(
                f"agents.{name}.tools: kind {kind!r} runs its tools on the platform; only "
                f"'coze' answers tool calls from local tools."
            )
        settings["tools"] = tools
    if kind == "plugin":
        return _plugin_agent(name, settings)
    import agenthost.backends.agents as agents

    cls = getattr(agents, PLATFORM_CLASSES[kind])
    try:
        made: Agent = cls(name=name, description=agent.description, **settings)
    except AgentHostError as exc:
        raise ConfigError(f"agents.{name}: {exc.message}") from exc
    return made


def _model_chain(
    config: AgentHostConfig, name: str, agent: AgentConfig, override: str | None
) -> tuple[list[str], ModelSettings | None, str]:
    """The model ids to try in order, the settings, and where they came from (for errors)."""
    if override is not None:
        where, ref = "--model (model_override)", override
    elif agent.model is not None:
        where, ref = f"agents.{name}.model", agent.model
    else:
        where, ref = f"agents.{name}.model (chosen from the environment)", auto_model()
    why = model_ref_problem(ref, config)
    if why is not None:
        raise ConfigError(f"{where}: {why}")
    alias = config.models.get(ref)
    if alias is None:
        return [ref], None, where
    ids = [alias.model]
    for fallback in alias.fallbacks:
        target = config.models.get(fallback)
        ids.append(target.model if target is not None else fallback)
    return list(dict.fromkeys(ids)), _settings(alias.settings), f"models.{ref}"


def _settings(settings: ModelSettingsConfig | None) -> ModelSettings | None:
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
        )
        for name, p in config.providers.items()
    }


def _infer_models(config: AgentHostConfig, ids: list[str], where: str) -> list[ChatModel]:
    from agenthost.backends.models import infer_model

    providers = provider_settings(config)
    models: list[ChatModel] = []
    for model_id in ids:
        try:
            models.append(infer_model(model_id, providers=providers))
        except (ConfigError, InvalidArgument) as exc:
            raise ConfigError(f"{where}: model {model_id!r}: {exc.message}") from exc
    return models


def _llm_agent(
    name: str,
    agent: AgentConfig,
    models: list[ChatModel],
    tools: list[Any],
    settings: ModelSettings | None,
) -> LLMAgent:
    return LLMAgent(
        model=models[0],
        fallbacks=models[1:],
        name=name,
        instructions=agent.instructions,
        description=agent.description,
        tools=tools,
        max_tool_rounds=agent.max_tool_rounds,
        parallel_tools=agent.parallel_tools,
        tool_timeout=agent.tool_timeout,
        max_tool_result_chars=agent.max_tool_result_chars,
        history_max_messages=agent.history_max_messages,
        history_max_tokens=agent.history_max_tokens,
        stream=agent.stream,
        settings=settings,
    )
