"""From config to a running Runner: `async with build_runtime(config) as rt: rt.runner.run(...)`.

`build_runtime` picks the agent (the default one unless named) and builds it with its kind's
registry entry (config/kinds/): an LLM agent's model chain (alias -> model + fallbacks +
settings, or a 'provider:model' id; `model_override` replaces it) and tools, a platform or
plugin agent's client, a composition's parts, a framework adapter's object; the MCP servers
its tools come from are started first (config/mcp.py). Then it opens the session store and
the models, and closes them all on exit. Everything that can be wrong in the
config is checked before anything is opened.

An agent without a model gets one from the environment: `AGENTHOST_MODEL` if set, else
`openai:gpt-4o-mini` when `OPENAI_API_KEY` is set (`OPENAI_BASE_URL` is honoured by the
provider), else the embedded `local:smollm2` (no key, no network).

The same can be done by hand: `Runner(LLMAgent(model="openai:gpt-4o-mini", tools=[f]),
store=store)` -- the config is a convenience over the agents' constructors and the Runner, not a
layer of its own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agenthost.config._metering import SharedBudgets, make_meter, open_usage, shared_budgets
from agenthost.config._validate import ConfigSource, check_references
from agenthost.config.kinds._builder import (
    LOCAL_DEFAULT,
    OPENAI_DEFAULT,
    AgentBuilder,
    auto_model,
    provider_settings,
)
from agenthost.config.mcp import open_servers, servers_used
from agenthost.config.paths import default_store_url, home_dir
from agenthost.config.schema import AgentHostConfig
from agenthost.core.errors import ConfigError, InvalidArgument
from agenthost.engine.runner import Runner
from agenthost.ports.artifacts import ArtifactStore
from agenthost.ports.models import ChatModel
from agenthost.ports.protocol import Agent, HostAPI, Manifest, ResultBatch, RunContext, RunFailed

if TYPE_CHECKING:
    from agenthost.backends.sessions import SessionBackend
    from agenthost.backends.tools.mcp import McpServer
    from agenthost.ports.usage import UsageStore

log = logging.getLogger("agenthost.config")

__all__ = [
    "LOCAL_DEFAULT",
    "OPENAI_DEFAULT",
    "Runtime",
    "agent_app",
    "auto_model",
    "build_agent",
    "build_runtime",
    "build_runtimes",
    "open_artifacts",
    "open_sessions",
    "open_store",
    "provider_settings",
]


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


@asynccontextmanager
async def build_runtime(
    config: AgentHostConfig | None = None,
    *,
    agent: str | None = None,
    model_override: str | None = None,
    store: SessionBackend | None = None,
    app: str | None = None,
    mcp_servers: Mapping[str, McpServer] | None = None,
    artifacts: ArtifactStore | None = None,
    usage: UsageStore | Literal["open"] | None = "open",
    shared: SharedBudgets | Literal["config"] | None = "config",
) -> AsyncIterator[Runtime]:
    """Open the store and models of `agent` (default: the config's default agent) and give
    a Runtime whose `runner` runs it; everything is closed on exit.

    `store`: use this opened store (the caller's) instead of opening the config's. `app`: the
    runner's app name (default `agent_app(config, agent)`, as the server names it, so the CLI
    and the server see the same sessions). `mcp_servers`: use these opened MCP servers
    (by name) instead of starting the ones of `config.mcp_servers` the agent uses.
    `usage`: the opened usage store to record runs in (default: open the config's, see
    `usage:`); `shared`: the top-level budgets with their rate window (default: the
    config's; `build_runtimes` passes one to every agent)."""
    config = config if config is not None else AgentHostConfig()
    name, _ = config.select_agent(agent)
    home = home_dir()
    async with AsyncExitStack() as stack:
        if mcp_servers is None:
            _check(config)  # a bad config fails before any MCP server is started
            mcp_servers = await open_servers(stack, config, servers_used(config, name))
        built, models = build_agent(
            config, name, model_override=model_override, mcp_servers=mcp_servers
        )
        if store is None:
            store = await stack.enter_async_context(open_store(config, home=home))
        if artifacts is None:
            artifacts = await stack.enter_async_context(open_artifacts(config, home=home))
        for model in models:
            await stack.enter_async_context(model)
        opened = (
            await stack.enter_async_context(open_usage(config, home))
            if isinstance(usage, str)
            else usage
        )
        budgets = shared_budgets(config) if isinstance(shared, str) else shared
        meter = make_meter(config, name, opened, budgets)
        runner = Runner(
            built,
            store=store,
            app=app if app is not None else agent_app(config, name),
            busy_policy=config.runner.busy_policy,
            timeout=config.runner.timeout,
            artifacts=artifacts,
            leases="local" if config.cluster.leases == "local" else "auto",
            lease_seconds=config.cluster.lease_seconds,
            meter=meter,
        )
        await stack.enter_async_context(runner)  # opens and closes what the agent owns
        log.info(
            "runtime ready: agent %s (%s), model %s, app %s",
            name,
            config.select_agent(name)[1].kind,
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


def build_agent(
    config: AgentHostConfig,
    name: str,
    *,
    model_override: str | None = None,
    mcp_servers: Mapping[str, McpServer] | None = None,
) -> tuple[Agent, list[ChatModel]]:
    """The agent `name` of the config, built by its kind (nothing opened yet), and the models
    it uses (the caller opens and closes them). The config is checked first, as a file is.
    `mcp_servers`: the opened MCP servers its `mcp:` tools come from (see config/mcp.py)."""
    _check(config)
    builder = AgentBuilder(config, top=name, model_override=model_override, mcp_servers=mcp_servers)
    built = builder.agent(name)
    if model_override is not None and not builder.override_used:
        kind = config.select_agent(name)[1].kind
        raise ConfigError(
            f"--model (model_override): the agent {name!r} is of kind {kind!r}, which takes no "
            f"model; leave out --model (or set the models of the agents it is made of)."
        )
    return built, builder.models_made


def _check(config: AgentHostConfig) -> None:
    problems = check_references(config)  # a config built in code gets the file's checks
    if problems:
        raise ConfigSource().error(problems)


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
        _check(config)
        used = {server for name in names for server in servers_used(config, name)}
        servers = await open_servers(stack, config, [s for s in config.mcp_servers if s in used])
        store = await stack.enter_async_context(open_store(config))
        artifacts = await stack.enter_async_context(open_artifacts(config))
        usage = await stack.enter_async_context(open_usage(config, home_dir()))
        shared = shared_budgets(config)
        runtimes: dict[str, Runtime] = {}
        for name in names:
            runtimes[name] = await stack.enter_async_context(
                build_runtime(
                    config,
                    agent=name,
                    store=store,
                    app=agent_app(config, name),
                    mcp_servers=servers,
                    artifacts=artifacts,
                    usage=usage,
                    shared=shared,
                )
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
    if config.store.url is None:  # the home's own file upgrades itself (docs/stores.md)
        options["auto_upgrade"] = True
    try:
        store = open_session_store(url, **options)
    except (ConfigError, InvalidArgument) as exc:
        raise ConfigError(f"store.url: {exc.message}") from exc
    log.debug("opening store %s", redact_store_url(url))
    async with store as opened:
        yield opened


@asynccontextmanager
async def open_artifacts(
    config: AgentHostConfig | None = None, *, home: Path | None = None
) -> AsyncIterator[ArtifactStore]:
    """The config's artifact store, opened: `artifacts.url`, else the one that follows
    `store.url` (config/store_urls.py; files under `$AGENTHOST_HOME/artifacts` by default)."""
    from agenthost.backends.artifacts import open_artifact_store
    from agenthost.config.store_urls import artifacts_url

    config = config if config is not None else AgentHostConfig()
    url = artifacts_url(config, home or home_dir())
    try:
        artifacts = open_artifact_store(url)
    except (ConfigError, InvalidArgument) as exc:
        raise ConfigError(f"artifacts.url: {exc.message}") from exc
    async with artifacts as opened:
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
    async with open_store(config) as store, open_artifacts(config) as artifacts:
        yield Runner(_SessionsOnly(), store=store, app=agent_app(config, name), artifacts=artifacts)
