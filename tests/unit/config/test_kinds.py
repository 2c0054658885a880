"""Agent kinds from the config file: the registry, compositions, plugins with grants,
framework adapters, a kind added by another package, and the errors of each."""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec
import pytest

from agenthost.config import (
    AgentBuilder,
    AgentKindConfig,
    AgentKindSpec,
    build_runtime,
    build_runtimes,
    load_config,
    parse_config,
    register_agent_kind,
)
from agenthost.config.kinds import _registry, unregister_agent_kind
from agenthost.core.errors import ConfigError
from agenthost.core.messages import Message
from agenthost.engine.runner import collect, final_text
from agenthost.ports.protocol import (
    Agent,
    HostAPI,
    Manifest,
    MessageCompleted,
    ResultBatch,
    RunCompleted,
    RunContext,
)
from agenthost.testing.fake_openai import FakeOpenAIServer

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "config"
BUILT_IN = [
    "llm",
    "dify",
    "coze",
    "bailian",
    "a2a",
    "plugin",
    "chain",
    "parallel",
    "loop",
    "transfer",
    "pydantic_ai",
    "langgraph",
    "openai_agents",
    "adk",
    "agentscope",
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for name in ("AGENTHOST_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTHOST_STORE"):
        monkeypatch.delenv(name, raising=False)


def with_fake_model(monkeypatch: pytest.MonkeyPatch, srv: FakeOpenAIServer) -> None:
    """openai:* models (and agents without a model) go to the fake server."""
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def config_error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    return info.value.message


def test_every_built_in_kind_is_registered() -> None:
    assert list(_registry.agent_kinds())[: len(BUILT_IN)] == BUILT_IN


# ---- compositions ------------------------------------------------------------------------


async def test_a_chain_from_the_file_runs_its_parts_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeOpenAIServer() as srv:
        with_fake_model(monkeypatch, srv)
        config = load_config(EXAMPLES / "composition.yaml", env={})
        async with build_runtime(config) as rt:  # default_agent: pipeline
            events = await collect(rt.runner.run("u", None, "tea"))
            assert rt.agent_kind == "chain" and rt.model_id == "openai:gpt-4o-mini"
    assert final_text(events) == "Echo: Echo: tea"  # the writer's answer is the editor's input
    assert [e.author for e in events if e.type == "message.completed"] == ["writer", "editor"]
    assert [b["messages"][0]["content"] for b in srv.bodies] == [
        "Write a short first draft about the topic you are given.",
        "Tighten the draft you are given. Answer with the text only; end with FINAL.",
    ]


async def test_every_composition_of_the_example_is_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agenthost.server import create_app

    async with FakeOpenAIServer() as srv:
        with_fake_model(monkeypatch, srv)
        app = create_app(load_config(EXAMPLES / "composition.yaml", env={}))
        transport = httpx.ASGITransport(app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
        ):
            outputs, authors = {}, {}
            for agent in ("pipeline", "panel", "polish", "desk"):
                r = await client.post(
                    f"/v1/apps/{agent}/runs", json={"message": "tea", "stream": False}
                )
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "completed", r.json()
                outputs[agent] = r.json()["output"]
                authors[agent] = [
                    e["author"] for e in r.json()["events"] if e["type"] == "message.completed"
                ]
    assert outputs["pipeline"] == "Echo: Echo: tea"
    assert outputs["panel"] == "## writer\nEcho: tea\n\n## editor\nEcho: tea"
    assert outputs["polish"] == "Echo: Echo: Echo: tea"  # 3 rounds: FINAL never appears
    # the editor (router) calls its first tool, transfer_to_writer: the writer answers
    assert outputs["desk"] == "Echo: tea" and authors["desk"][-1] == "writer"


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (
            {"writer": {}, "c": {"kind": "chain", "agents": ["writer", "wrtier"]}},
            "agents.c.agents[1]: unknown agent 'wrtier'; did you mean 'writer'? Agents: writer, c.",
        ),
        (
            {"c": {"kind": "chain", "agents": ["c"]}},
            "agents.c.agents[0]: an agent cannot contain itself ('c')",
        ),
        (
            {
                "a": {"kind": "chain", "agents": ["b"]},
                "b": {"kind": "loop", "agent": "a", "max_iterations": 2},
            },
            "agents.a: the agents contain each other: a -> b -> a",
        ),
        (
            {"w": {}, "p": {"kind": "parallel", "agents": ["w", "w"]}},
            "agents.p.agents[1]: 'w' is listed twice",
        ),
        ({"c": {"kind": "chain", "agents": []}}, "agents.c.agents: name at least one agent"),
        ({"c": {"kind": "chain"}}, "agents.c.agents: required field is missing"),
        (
            {"w": {}, "l": {"kind": "loop", "agent": "w", "max_iterations": 0}},
            "agents.l.max_iterations: expected int >= 1",
        ),
        (
            {"w": {}, "t": {"kind": "transfer", "router": "w", "targets": ["w"], "model": "x"}},
            "agents.t.model: not a setting of kind 'transfer'; its settings are description, "
            "pricing, budgets, router, targets",
        ),
    ],
)
def test_composition_mistakes_name_the_field(agents: dict[str, Any], expected: str) -> None:
    assert expected in config_error({"agents": agents})


async def test_model_override_of_an_agent_that_takes_no_model_is_refused() -> None:
    config = parse_config({"agents": {"w": {}, "c": {"kind": "chain", "agents": ["w"]}}}, env={})
    with pytest.raises(ConfigError, match=r"--model \(model_override\): the agent 'c' is of kind"):
        async with build_runtime(config, agent="c", model_override="openai:gpt-4o"):
            pass


# ---- wrong settings --------------------------------------------------------------------------


def test_a_setting_the_kind_does_not_take_is_named_without_other_kinds() -> None:
    message = config_error({"agents": {"a": {"kind": "dify", "tools": ["demo:*"]}}})
    assert message.startswith("agents.a.tools: not a setting of kind 'dify'; its settings are")
    assert "coze" not in message.lower()
    typo = config_error({"agents": {"a": {"kind": "bailian", "app_di": "x"}}})
    assert typo == "agents.a.app_di: unknown field; did you mean 'app_id'?"


def test_a_flat_file_of_before_still_loads_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "agenthost.yaml"
    path.write_text("agents:\n  d:\n    kind: dify\n    api_key: k\n    instructions: hi\n")
    with pytest.warns(FutureWarning) as notes:
        config = load_config(path, env={})
    assert str(notes[0].message) == (
        f"{path}:5: agents.d.instructions: not a setting of kind 'dify'; it was always ignored "
        f"and is dropped now. Remove it: a future version will refuse it."
    )
    assert config.agents["d"].kind == "dify"


# ---- plugins -----------------------------------------------------------------------------


async def test_a_plugin_gets_the_model_tools_and_knowledge_of_its_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from research_plugin import ResearchAgent  # examples/config

    from agenthost.plugin import start_http

    config = load_config(EXAMPLES / "plugin.yaml", env={})
    plugin_server, url = await start_http(ResearchAgent(), "127.0.0.1", 0)
    entry = msgspec.structs.replace(config.agents["researcher"], command=None, url=url)
    config = msgspec.structs.replace(config, agents={"researcher": entry})
    try:
        async with FakeOpenAIServer() as srv:
            with_fake_model(monkeypatch, srv)
            async with build_runtime(config) as rt:
                assert rt.model_id == "openai:gpt-4o-mini"
                events = await collect(rt.runner.run("u", None, "Is it raining? umbrella"))
    finally:
        await plugin_server.cleanup()
    assert events[-1].type == "run.completed", events[-1]
    prompt = srv.bodies[0]["messages"][-1]["content"]
    assert prompt.startswith("Is it raining? umbrella\nNotes: Take an umbrella when it rains")
    assert "Paris" in prompt  # the get_weather tool's answer
    assert final_text(events) == f"Echo: {prompt}"


def test_a_plugin_needs_command_or_url() -> None:
    message = config_error({"agents": {"p": {"kind": "plugin", "model": "openai:x"}}})
    assert message.startswith("agents.p.command: a plugin needs either command")


# ---- framework adapters ------------------------------------------------------------------


async def test_framework_agents_from_the_file() -> None:
    config = load_config(EXAMPLES / "adapters.yaml", env={})
    async with build_runtimes(config) as runtimes:
        summary = await collect(runtimes["summarizer"].runner.run("u", None, "long text"))
        graph = await collect(runtimes["graph"].runner.run("u", None, "hi"))
    assert final_text(summary) == "A short summary."
    assert final_text(graph) == "Hello from the graph."


async def test_a_framework_object_that_is_not_there() -> None:
    config = parse_config(
        {"agents": {"g": {"kind": "langgraph", "object": "framework_agents:grpah"}}}, env={}
    )
    with pytest.raises(ConfigError, match=r"agents\.g\.object: .*no attribute 'grpah'.*'graph'"):
        async with build_runtime(config):
            pass
    bad = config_error({"agents": {"g": {"kind": "adk", "object": "framework_agents"}}})
    assert bad.startswith("agents.g.object: 'framework_agents' is not an object ref")


async def test_openai_agents_tracing_set_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sdk_agents.py").write_text(
        "from agents import Agent\nweather = Agent(name='weather', instructions='Be brief.')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = {"kind": "openai_agents", "object": "sdk_agents:weather", "max_turns": 3}
    for tracing, disabled in ((False, True), (True, False)):
        config = parse_config({"agents": {"w": {**entry, "tracing": tracing}}}, env={})
        async with build_runtime(config) as rt:
            agent: Any = rt.runner.agent
            assert agent.run_config.tracing_disabled is disabled and agent.max_turns == 3
    config = parse_config({"agents": {"w": entry}}, env={})
    async with build_runtime(config) as rt:
        assert rt.runner.agent.run_config is None  # the SDK's default decides
    bad = config_error({"agents": {"w": {**entry, "tracing": "off"}}})
    assert bad.startswith("agents.w.tracing: ")


# ---- a kind from another package ---------------------------------------------------------


class ShoutConfig(AgentKindConfig, kw_only=True):
    kind: Literal["shout"] = "shout"
    times: int = 1


class ShoutAgent:
    def __init__(self, name: str, times: int) -> None:
        self.manifest = Manifest(id=f"shout:{name}", name=name)
        self.times = times

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        text = "!".join([ctx.input.text.upper()] * self.times)
        yield [MessageCompleted(message=Message.assistant(text)), RunCompleted()]


def build_shout(name: str, config: ShoutConfig, builder: AgentBuilder) -> Agent:
    return ShoutAgent(name, config.times)


SHOUT = AgentKindSpec(name="shout", config=ShoutConfig, build=build_shout, summary="shouts")


async def test_a_registered_kind_is_usable_from_the_file() -> None:
    register_agent_kind(SHOUT)
    try:
        config = parse_config(
            {"store": "memory://", "agents": {"s": {"kind": "shout", "times": 2}}}, env={}
        )
        async with build_runtime(config) as rt:
            assert final_text(await collect(rt.runner.run("u", None, "hi"))) == "HI!HI"
        wrong = config_error({"agents": {"s": {"kind": "shout", "tims": 2}}})
        assert wrong == "agents.s.tims: unknown field; did you mean 'times'?"
        with pytest.raises(ConfigError, match="'shout' is already registered"):
            register_agent_kind(SHOUT)
    finally:
        unregister_agent_kind("shout")


def test_kinds_of_installed_packages_come_from_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point = importlib.metadata.EntryPoint(
        name="shout", value=f"{__name__}:SHOUT", group=_registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [point])
    assert _registry._installed() == [
        ([SHOUT], f"entry point 'shout' ({point.value}) in group {_registry.ENTRY_POINT_GROUP}")
    ]


def test_a_kind_whose_struct_does_not_name_it_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"must declare `kind: Literal\['yell'\] = 'yell'`"):
        register_agent_kind(
            AgentKindSpec(name="yell", config=ShoutConfig, build=build_shout, summary="")
        )


async def test_platform_retries_and_timeouts_from_the_file_reach_the_client() -> None:
    config = parse_config(
        {
            "agents": {
                "d": {
                    "kind": "dify",
                    "api_key": "k",
                    "base_url": "http://127.0.0.1:9/v1",
                    "retries": 0,
                    "max_retry_after": 5,
                    "stop_timeout": 2,
                },
                "r": {"kind": "a2a", "card_url": "http://127.0.0.1:9/", "retries": 4},
            }
        },
        env={},
    )
    async with build_runtimes(config) as runtimes:
        dify: Any = runtimes["d"].agent
        remote: Any = runtimes["r"].agent
        assert (dify.settings.retries, dify.settings.max_retry_after) == (0, 5)
        assert dify.settings.stop_timeout == 2
        assert remote.settings.retries == 4
    assert config_error({"agents": {"d": {"kind": "dify", "retries": -1}}}).startswith(
        "agents.d.retries"
    )
