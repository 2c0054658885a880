"""A framework agent from the config file with `knowledge_bases`, `memory` and `artifacts`:
its tools search the declared base, the run's user's memories (never another user's) and the
run's session's files, all through the run's host API; bad values name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agenthost.backends.knowledge import open_knowledge_store
from agenthost.backends.knowledge.memory_store import KnowledgeMemory
from agenthost.config import build_runtime, load_config, parse_config
from agenthost.core.errors import ConfigError
from agenthost.engine.runner import collect, final_text

# pydantic-ai's TestModel calls every tool it is given, then answers with their results as JSON
AGENTS = """
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

librarian = Agent(TestModel(), name="librarian")
"""

CONFIG = """
app: t
store: {url: "memory://"}
knowledge: {url: "sqlite:///KB"}
knowledge_bases:
  handbook:
    sources: [HANDBOOK]
agents:
  librarian:
    kind: pydantic_ai
    object: librarian_agent:librarian
    knowledge_bases: [handbook]
    retrieval_top_k: 2
    memory: true
    artifacts: true
"""


async def test_a_framework_agent_from_the_file_uses_knowledge_memory_and_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "librarian_agent.py").write_text(AGENTS)
    handbook = tmp_path / "handbook"
    handbook.mkdir()
    (handbook / "returns.md").write_text("Bikes can be returned within 30 days.")
    kb = tmp_path / "kb.db"
    text = CONFIG.replace("KB", str(kb)).replace("HANDBOOK", str(handbook))
    (tmp_path / "agenthost.yaml").write_text(text)
    async with open_knowledge_store(f"sqlite:///{kb}") as store:
        memory = KnowledgeMemory(store)
        await memory.add("ann", "Ann rides a red gravel bike", app="t")
        await memory.add("bob", "Bob wants a child seat", app="t")
    config = load_config(tmp_path / "agenthost.yaml", env={})
    async with build_runtime(config) as rt:
        ann = await answer(rt.runner, "ann")
        bob = await answer(rt.runner, "bob")
    assert "Ann rides a red gravel bike" in ann["load_memory"]
    assert "Bob" not in ann["load_memory"]
    assert "Bob wants a child seat" in bob["load_memory"]
    assert "Ann" not in bob["load_memory"]
    assert "returned within 30 days" in ann["search_knowledge"]
    assert ann["save_artifact"].startswith("saved a (version 0")
    # each user's run saved its own file "a" in its own session: version 0 each time
    assert bob["save_artifact"].startswith("saved a (version 0")


async def answer(runner: Any, user: str) -> dict[str, str]:
    events = await collect(runner.run(user, "s1", "help"))
    assert events[-1].type == "run.completed", events[-1]
    found: dict[str, str] = orjson.loads(final_text(events))
    return found


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ({"memory": "yes"}, "agents.a.memory: expected bool, got str"),
        ({"artifacts": [1]}, "agents.a.artifacts: expected bool, got a list"),
        ({"knowledge_bases": ["nope"]}, "agents.a.knowledge_bases[0]: 'nope' is not declared"),
        ({"retrieval_top_k": 0}, "agents.a.retrieval_top_k:"),
    ],
)
def test_bad_settings_name_the_field(setting: dict[str, Any], error: str) -> None:
    entry = {"kind": "pydantic_ai", "object": "m:agent", **setting}
    with pytest.raises(ConfigError) as caught:
        parse_config({"agents": {"a": entry}}, env={})
    assert caught.value.message.startswith(error), caught.value.message
