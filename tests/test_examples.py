"""Docs are code: every example runs, and every snippet in README.md and docs/ is an example.

A fenced block in the docs must be preceded by `<!-- example: path -->` naming a file under
examples/ (or the repository root) whose text contains the block verbatim.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.example_runs import ROOT, run_example, run_script

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- example: (?P<path>\S+) -->\s*\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)
SNIPPET_LANGS = {"python", "yaml", "bash", "sh", "console", "json"}


def snippets() -> Iterator[tuple[str, str | None, str, str]]:
    for doc in DOCS:
        for match in BLOCK.finditer(doc.read_text()):
            if match.group("lang") in SNIPPET_LANGS:
                yield doc.name, match.group("path"), match.group("lang"), match.group("body")


@pytest.mark.parametrize(("doc", "path", "lang", "body"), list(snippets()))
def test_every_snippet_is_an_example_file(doc: str, path: str | None, lang: str, body: str) -> None:
    assert path is not None, f"{doc}: a {lang} block has no '<!-- example: path -->' line above it"
    text = (ROOT / path).read_text()
    if lang in ("bash", "sh", "console"):
        # shell snippets: every command line must appear in the example script
        for line in body.splitlines():
            command = line.removeprefix("$ ").split("  #")[0].strip()
            if command and not line.startswith("#"):
                assert command in text, f"{doc}: {command!r} is not in {path}"
    else:
        assert body.strip() in text, f"{doc}: the {lang} block differs from {path}"


def test_quickstart_runs_a_tool_turn(fake_env: dict[str, str], tmp_path: Path) -> None:
    out = run_example("quickstart.py", fake_env, tmp_path)
    assert "[tool result: It is 21°C and sunny in" in out
    assert "[done:" in out
    assert (tmp_path / "quickstart.db").exists()


def test_cli_tour(fake_env: dict[str, str], tmp_path: Path) -> None:
    out = run_script("shell/cli.sh", fake_env, tmp_path).stdout
    assert "Done:" in out  # the fake model answered after the tool call
    assert '"type":"run.completed"' in out  # --json printed events
    assert "trip" in out


@pytest.mark.parametrize(
    ("name", "done"),
    [
        ("adapters/pydantic_ai_agent.py", "Done: sunny in"),
        ("adapters/langgraph_agent.py", "Done: sunny in"),
        ("adapters/openai_agents_agent.py", "Done: sunny in"),
        ("adapters/agentscope_agent.py", "Done: sunny in"),
        # ADK gives the model a tool's plain return value as {"result": ...}
        ("adapters/adk_agent.py", 'Done: {"result": "sunny in'),
    ],
)
def test_framework_adapter_examples(
    name: str, done: str, fake_env: dict[str, str], tmp_path: Path
) -> None:
    out = run_example(name, {**fake_env, "MODEL": "fake-model"}, tmp_path)
    assert "[calling get_weather]" in out
    assert done in out


PUBLIC_PATHS = {"agenthost", "agenthost.testing", "agenthost.plugin"}
EXAMPLE_FILES = sorted((ROOT / "examples").rglob("*.py"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_import_only_public_paths(path: Path) -> None:
    """Examples import agenthost names from `agenthost` (test doubles from
    `agenthost.testing`, the plugin SDK from `agenthost.plugin`), never from a layer path
    such as `agenthost.engine.runner`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module.split(".")[0] == "agenthost":
                assert module in PUBLIC_PATHS, (
                    f"{path.relative_to(ROOT)}:{node.lineno} imports from {module!r}; import "
                    f"from 'agenthost' (or agenthost.testing / agenthost.plugin) instead"
                )


def test_ask_on_a_self_hosted_server(fake_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in fake_env.items() if k != "AGENTHOST_MODEL"}
    out = run_example("ask.py", env, tmp_path, "my-model")
    assert out == "Echo: What is the capital of France?\n"
