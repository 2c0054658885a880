"""agenthost.yaml: parsing, interpolation, env overrides, and every error naming its field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agenthost.config import (
    AgentConfig,
    AgentHostConfig,
    DifyAgentConfig,
    load_config,
    parse_config,
)
from agenthost.config.schema import DEMO_INSTRUCTIONS
from agenthost.core.errors import ConfigError

EXAMPLE = Path(__file__).parents[3] / "examples" / "agenthost.yaml"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so files are named 'agenthost.yaml' in messages


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "agenthost.yaml").write_text(textwrap.dedent(text))
    return Path("agenthost.yaml")


def load(tmp_path: Path, text: str, **env: str) -> AgentHostConfig:
    return load_config(write(tmp_path, text), env=env)


def error(tmp_path: Path, text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, **env)
    return info.value.message


# ---- parsing -----------------------------------------------------------------------------


def test_full_file(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        app: shop
        store: {url: "memory://", max_events: 100, ttl_seconds: 60}
        providers:
          lab: {base_url: "http://127.0.0.1:9/v1", api_key_env: LAB_KEY,
                prices: {m1: {input_per_mtok: 1, output_per_mtok: 2}}, timeout: 5}
        models:
          fast:
            model: lab:m1
            fallbacks: [openai:gpt-4o-mini]
            settings: {temperature: 0.1, max_tokens: 50, tool_choice: auto}
        agents:
          helper:
            model: fast
            instructions: be brief
            tools: ["demo:*", "pkg.mod:fn"]
            max_tool_rounds: 3
            parallel_tools: false
            tool_timeout: 2.5
            history_max_messages: 10
            stream: false
        default_agent: helper
        runner: {busy_policy: reject, timeout: 30}
        """,
    )
    assert config.app == "shop"
    assert config.store.url == "memory://" and config.store.max_events == 100
    assert config.providers["lab"].prices["m1"].output_per_mtok == 2.0
    assert config.models["fast"].fallbacks == ["openai:gpt-4o-mini"]
    assert config.models["fast"].settings is not None
    assert config.models["fast"].settings.tool_choice == "auto"
    helper = config.agents["helper"]
    assert helper.tools == ["demo:*", "pkg.mod:fn"] and helper.max_tool_rounds == 3
    assert helper.tool_timeout == 2.5 and helper.stream is False and helper.kind == "llm"
    assert config.runner.busy_policy == "reject" and config.runner.timeout == 30
    assert config.select_agent() == ("helper", helper)


def test_the_example_file_loads() -> None:
    config = load_config(EXAMPLE, env={"AGENTHOST_HOME": "/data"})
    assert config.store.url == "sqlite:////data/example.db"
    assert config.default_agent_name() == "assistant"
    assert config.agents["weather"].model == "offline"
    assert config.providers["lab"].base_url == "http://127.0.0.1:8000/v1"


def test_store_can_be_a_plain_url(tmp_path: Path) -> None:
    assert load(tmp_path, "store: memory://").store.url == "memory://"


def test_no_file_gives_the_demo_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    name, agent = config.select_agent()
    assert name == "assistant" and agent.model is None
    assert agent.tools == ["demo:*"] and agent.instructions == DEMO_INSTRUCTIONS
    assert config.store.url is None  # the SQLite file under AGENTHOST_HOME, at build time


def test_no_path_uses_agenthost_yaml_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "app: from-cwd\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(None, env={}).app == "from-cwd"


def test_empty_file_and_file_without_agents(tmp_path: Path) -> None:
    assert load(tmp_path, "").select_agent()[0] == "assistant"
    assert load(tmp_path, "store: memory://\n").select_agent()[0] == "assistant"


def test_python_api_builds_the_same_objects() -> None:
    config = AgentHostConfig(
        app="code", agents={"a": AgentConfig(model="openai:gpt-4o-mini"), "b": AgentConfig()}
    )
    assert config.select_agent("b")[0] == "b"
    with pytest.raises(ConfigError, match="no default_agent") as info:
        config.select_agent()
    assert "(or AGENTHOST_DEFAULT_AGENT), or pick one with --agent" in info.value.message
    assert parse_config({"agents": {"a": {"model": "openai:x"}}}, env={}).agents["a"].model == (
        "openai:x"
    )


# ---- interpolation -----------------------------------------------------------------------


def test_interpolation(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        app: ${APP}
        agents:
          a:
            instructions: "Hello ${WHO:-world}, cost $${PRICE}"
            max_tool_rounds: ${ROUNDS:-4}
            stream: ${STREAM:-false}
        """,
        APP="shop",
        WHO="",
    )
    assert config.app == "shop"
    assert config.agents["a"].instructions == "Hello world, cost ${PRICE}"
    assert config.agents["a"].max_tool_rounds == 4 and config.agents["a"].stream is False


def test_agenthost_home_is_always_defined_for_interpolation(tmp_path: Path) -> None:
    config = load(tmp_path, "store: sqlite:///${AGENTHOST_HOME}/a.db\n", HOME="/home/x")
    assert config.store.url is not None and config.store.url.endswith("/.agenthost/a.db")
    config = load(tmp_path, "store: sqlite:///${AGENTHOST_HOME}/a.db\n", AGENTHOST_HOME="/srv")
    assert config.store.url == "sqlite:////srv/a.db"


def test_unset_variable_names_the_field_and_the_line(tmp_path: Path) -> None:
    message = error(tmp_path, "app: x\nproviders:\n  lab:\n    api_key: ${LAB_KEY}\n")
    assert message.startswith("agenthost.yaml:4: providers.lab.api_key: ")
    assert "LAB_KEY is not set" in message and "${LAB_KEY:-default}" in message


def test_bad_reference(tmp_path: Path) -> None:
    message = error(tmp_path, 'app: "${not a name}"\n')
    assert "app: bad reference ${not a name}" in message


def test_interpolated_number_that_is_not_a_number(tmp_path: Path) -> None:
    message = error(tmp_path, "agents:\n  a:\n    max_tool_rounds: ${R:-lots}\n")
    assert "agents.a.max_tool_rounds: expected int, got str" in message


# ---- environment overrides ---------------------------------------------------------------


def test_env_overrides(tmp_path: Path) -> None:
    text = """
    models:
      fast: {model: "openai:gpt-4o-mini"}
    agents:
      a: {model: "openai:gpt-4o"}
      b: {model: "openai:gpt-4o"}
    default_agent: a
    """
    config = load(
        tmp_path,
        text,
        AGENTHOST_STORE="memory://",
        AGENTHOST_DEFAULT_AGENT="b",
        AGENTHOST_MODEL="fast",
    )
    assert config.store.url == "memory://"
    assert config.default_agent == "b"
    assert config.agents["b"].model == "fast" and config.agents["a"].model == "openai:gpt-4o"


def test_agenthost_model_without_a_file_sets_the_demo_agents_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={"AGENTHOST_MODEL": "ollama:llama3.2"})
    assert config.select_agent() == (
        "assistant",
        AgentConfig(model="ollama:llama3.2", instructions=DEMO_INSTRUCTIONS, tools=["demo:*"]),
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AGENTHOST_STORE": "agenthost.db"}, "AGENTHOST_STORE='agenthost.db' has no scheme"),
        ({"AGENTHOST_DEFAULT_AGENT": "helpr"}, "did you mean 'helper'?"),
        ({"AGENTHOST_MODEL": "gpt4"}, "AGENTHOST_MODEL: 'gpt4' is neither a model alias"),
        ({"AGENTHOST_MODEL": "opnai:gpt-4o"}, "unknown provider 'opnai'"),
    ],
)
def test_bad_env_overrides_name_the_variable(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    message = error(tmp_path, "agents:\n  helper: {}\n", **env)
    assert expected in message


def test_agenthost_model_with_several_agents_and_no_default(tmp_path: Path) -> None:
    # no default agent to give the model to: the file loads, each agent is picked by name
    config = load(
        tmp_path,
        "agents:\n  a: {}\n  b: {model: 'openai:gpt-4o-mini'}\n",
        AGENTHOST_MODEL="openai:gpt-4o",
    )
    assert config.select_agent("a")[1] == AgentConfig()  # its model: AGENTHOST_MODEL, at build
    assert config.select_agent("b")[1] == AgentConfig(model="openai:gpt-4o-mini")
    with pytest.raises(ConfigError, match=r"Several agents are declared \(a, b\)"):
        config.select_agent()


def test_agenthost_model_leaves_a_default_agent_without_a_model_alone(tmp_path: Path) -> None:
    config = load(
        tmp_path, "agents:\n  d: {kind: dify, api_key: k}\n", AGENTHOST_MODEL="openai:gpt-4o"
    )
    assert config.select_agent() == ("d", DifyAgentConfig(api_key="k"))


# ---- errors ------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Config file '.*nope.yaml' was not found"):
        load_config(tmp_path / "nope.yaml", env={})


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    message = error(tmp_path, "app: x\nagents:\n  a:\n    model: [unclosed\n  b: 1\n")
    assert message.startswith("agenthost.yaml:5:")
    assert "YAML syntax error" in message


def test_unknown_field_with_did_you_mean(tmp_path: Path) -> None:
    message = error(tmp_path, "agents:\n  helper:\n    modle: openai:gpt-4o\n")
    assert message == (
        "agenthost.yaml:3: agents.helper.modle: unknown field; did you mean 'model'?"
    )


def test_unknown_field_without_a_close_match_lists_the_fields(tmp_path: Path) -> None:
    message = error(tmp_path, "runner:\n  zzz: 1\n")
    assert message == "agenthost.yaml:2: runner.zzz: unknown field; fields: busy_policy, timeout"


def test_unknown_top_level_field(tmp_path: Path) -> None:
    assert "agenthost.yaml:1: agnets: unknown field; did you mean 'agents'?" in error(
        tmp_path, "agnets: {}\n"
    )


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    message = error(
        tmp_path,
        """
        agents:
          a:
            modle: x
            max_tool_rounds: -1
            tools: [5]
          b: {kind: dfy, api_key: k}
        runner:
          busy_policy: yolo
        """,
    )
    assert message.startswith("5 problems in agenthost.yaml:")
    for expected in [
        "agenthost.yaml:4: agents.a.modle: unknown field; did you mean 'model'?",
        "agenthost.yaml:5: agents.a.max_tool_rounds: expected int >= 0",
        "agenthost.yaml:6: agents.a.tools[0]: expected str, got int",
        "agenthost.yaml:7: agents.b.kind: invalid value 'dfy'; expected one of: llm, dify, "
        "coze, bailian, a2a, plugin, chain, parallel, loop, transfer, pydantic_ai, langgraph, "
        "openai_agents, adk, agentscope; did you mean 'dify'?",
        "agenthost.yaml:9: runner.busy_policy: invalid value 'yolo'; expected one of: "
        "queue, reject, interrupt",
    ]:
        assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agents: [a, b]\n", "agents: expected a mapping of names to entries, got a list"),
        (
            "agents:\n  a: 5\n",
            "agents.a: expected a mapping (fields: kind, description, pricing, budgets, model",
        ),
        ("runner: fast\n", "runner: expected a mapping (fields: busy_policy, timeout), got a"),
        ("agents:\n  a:\n    stream: maybe\n", "agents.a.stream: expected bool, got str"),
        ("agents:\n  a:\n    tool_timeout: 0\n", "agents.a.tool_timeout: expected float > 0"),
        ("models:\n  fast: {fallbacks: []}\n", "models.fast.model: required field is missing"),
        (
            "models:\n  fast:\n    model: x:y\n    settings: {temperature: hot}\n",
            "models.fast.settings.temperature: expected float, got str",
        ),
        ("providers:\n  lab:\n    headers: {a: 1}\n", "providers.lab.headers.a: expected str"),
        ("app: [1]\n", "app: expected str, got a list"),
        ("- a\n- b\n", "the config must be a mapping"),
        ("agents:\n  a: {}\n  a: {}\n", "agents.a: duplicate key on line 3 (first on line 2)"),
    ],
)
def test_bad_types_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "agents:\n  a: {model: fsat}\nmodels:\n  fast: {model: 'openai:gpt-4o'}\n",
            "agenthost.yaml:2: agents.a.model: 'fsat' is neither a model alias nor a "
            "'provider:model' id; did you mean 'fast'?",
        ),
        (
            "agents:\n  a: {model: 'opnai:gpt-4o'}\n",
            "agents.a.model: unknown provider 'opnai' in 'opnai:gpt-4o'; did you mean 'openai'?",
        ),
        (
            "models:\n  fast: {model: fast2}\n",
            "models.fast.model: 'fast2' is not a 'provider:model' id",
        ),
        (
            "models:\n  fast: {model: 'openai:a', fallbacks: ['nope:b']}\n",
            "models.fast.fallbacks[0]: unknown provider 'nope'",
        ),
        (
            "agents:\n  a: {model: 'lab:m'}\nproviders:\n  lab: {base_url: 'localhost:8000'}\n",
            "providers.lab.base_url: 'localhost:8000' must start with http:// or https://",
        ),
        (
            "providers:\n  lab: {base_url: 'http://x', api_key: k, api_key_env: K}\n",
            "providers.lab: set api_key_env or api_key, not both",
        ),
        ("store: agenthost.db\n", "store.url: 'agenthost.db' has no scheme"),
        (
            "agents:\n  a: {tools: [get_weather]}\n",
            "agents.a.tools[0]: 'get_weather' is not a tool ref",
        ),
        (
            "agents:\n  a: {}\ndefault_agent: b\n",
            "agenthost.yaml:3: default_agent: unknown agent 'b'",
        ),
        ("default_agent: assistent\n", "did you mean 'assistant'?"),
        ("app: ''\n", "app: must not be empty"),
    ],
)
def test_bad_references_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error(tmp_path, text)


def test_declared_providers_are_known(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "providers:\n  lab: {base_url: 'http://x/v1'}\nagents:\n  a: {model: 'lab:m'}\n",
    )
    assert config.agents["a"].model == "lab:m"


def test_unknown_agent_name_has_did_you_mean(tmp_path: Path) -> None:
    config = load(tmp_path, "agents:\n  helper: {}\n  writer: {}\ndefault_agent: helper\n")
    with pytest.raises(ConfigError) as info:
        config.select_agent("helpr")
    assert info.value.message == (
        "Unknown agent 'helpr'; did you mean 'helper'? Agents: helper, writer."
    )


def test_provider_repr_hides_the_key(tmp_path: Path) -> None:
    config = load(tmp_path, "providers:\n  lab: {base_url: 'http://x', api_key: sk-secret}\n")
    assert "sk-secret" not in repr(config.providers["lab"])


def test_provider_transport_and_ca_file(tmp_path: Path) -> None:
    from agenthost.config.kinds._builder import provider_settings

    config = load(
        tmp_path,
        "providers:\n  lab: {base_url: 'https://x/v1', transport: lean, ca_file: /etc/ca.pem}\n",
    )
    settings = provider_settings(config)["lab"]
    assert settings.transport == "lean" and settings.ca_file == "/etc/ca.pem"
    assert (
        load(tmp_path, "providers:\n  lab: {base_url: 'http://x'}\n").providers["lab"].transport
        == "auto"
    )
    message = error(tmp_path, "providers:\n  lab: {base_url: 'http://x', transport: curl}\n")
    assert (
        "providers.lab.transport: invalid value 'curl'; expected one of: auto, aiohttp, lean"
        in message
    )
