"""CLI fixtures: a fake OpenAI-compatible server in a thread and a config that uses it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthost.testing.fake_openai import FakeOpenAIServer, ThreadedFakeServer

TOOLS = '''
def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"
'''


@pytest.fixture
def fake() -> Iterator[ThreadedFakeServer]:
    with FakeOpenAIServer.start_in_thread() as handle:
        yield handle


AGENTS = """
helper:
  model: fake:fake-model
  instructions: be brief
  tools: ["cli_tools_mod:lookup"]
plain:
  model: fake:fake-model
"""


def write_config(
    tmp_path: Path, base_url: str, *, agents: str = AGENTS, default: str | None = "helper"
) -> Path:
    """agenthost.yaml in `tmp_path`: the fake provider at `base_url`, the `agents:` mapping
    given as YAML, and the `lookup` tool importable as cli_tools_mod:lookup."""
    (tmp_path / "cli_tools_mod.py").write_text(TOOLS)
    path = tmp_path / "agenthost.yaml"
    head = textwrap.dedent(
        f"""\
        app: clitest
        store: sqlite:///{tmp_path}/cli.db
        providers:
          fake: {{base_url: "{base_url}"}}
        agents:
        """
    )
    tail = f"default_agent: {default}\n" if default else ""
    path.write_text(head + textwrap.indent(textwrap.dedent(agents).lstrip("\n"), "  ") + tail)
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated AGENTHOST_HOME, working directory and sys.path; returns the home."""
    home = tmp_path / "home"
    monkeypatch.setenv("AGENTHOST_HOME", str(home))
    monkeypatch.setenv("USER", "tester")
    for name in (
        "AGENTHOST_MODEL",
        "AGENTHOST_STORE",
        "AGENTHOST_DEFAULT_AGENT",
        "AGENTHOST_USER",
        "AGENTHOST_CONFIG",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # and restore sys.path after the CLI's edits
    return home


@pytest.fixture
def config(env: Path, tmp_path: Path, fake: ThreadedFakeServer) -> Path:
    return write_config(tmp_path, fake.base_url)
