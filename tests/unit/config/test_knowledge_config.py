"""`knowledge:`, `knowledge_bases:` and an agent's retrieval settings: checked like the rest
of the file, and built into a runtime whose agent answers from its declared sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenthost import build_runtime, collect
from agenthost.config.loader import parse_config
from agenthost.core.errors import ConfigError
from agenthost.testing import FakeOpenAIServer


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "agents": {"a": {"knowledge_bases": ["handbok"]}},
                "knowledge_bases": {"handbook": {}},
            },
            "agents.a.knowledge_bases[0]: 'handbok' is not declared under knowledge_bases. "
            "Did you mean 'handbook'?",
        ),
        (
            {"knowledge_bases": {"kb": {"chunk_size": 100, "chunk_overlap": 100}}},
            "knowledge_bases.kb.chunk_overlap: must be >= 0 and less than chunk_size (100)",
        ),
        ({"knowledge": {"embedding": "bert"}}, "knowledge.embedding: 'bert': write 'local'"),
        (
            {"agents": {"a": {"rerank_model": "cohere"}}},
            "agents.a.rerank_model: 'cohere': write 'local' or 'PROVIDER:MODEL'",
        ),
        ({"agents": {"a": {"retrieval": "always"}}}, "agents.a.retrieval"),
        ({"knowledge_bases": {"kb": {"sorces": []}}}, "did you mean 'sources'"),
    ],
)
def test_bad_knowledge_settings_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert message in info.value.message


async def test_runtime_ingests_sources_and_the_agent_answers_from_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "wifi.md").write_text("The guest wifi password is sunflower42.")
    (docs / "parking.md").write_text("Visitors park on level -2.")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nothing")  # logged, the rest ingested
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path / "home"))
    async with FakeOpenAIServer() as server:
        server.add("It is sunflower42.")
        config = parse_config(
            {
                "store": "memory://",
                "providers": {"fake": {"base_url": server.base_url}},
                "knowledge_bases": {"office": {"sources": [str(docs)]}},
                "agents": {
                    "helper": {
                        "model": "fake:m",
                        "instructions": "Answer from the excerpts.",
                        "knowledge_bases": ["office"],
                        "retrieval_top_k": 1,
                    }
                },
            },
            env={},
        )
        async with build_runtime(config) as rt:
            events = await collect(rt.runner.run("u", "s", "What is the wifi password?"))
        system = server.bodies[0]["messages"][0]
    assert system["role"] == "system"
    assert "Answer from the excerpts." in system["content"]
    assert "wifi.md (chunk 0):\nThe guest wifi password is sunflower42." in system["content"]
    found = next(e for e in events if e.type == "knowledge.retrieved")
    assert found.data is not None and found.data["citations"][0]["kb"] == "office"
    assert events[-1].type == "run.completed"


async def test_agent_memory_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path / "home"))
    async with FakeOpenAIServer() as server:
        server.add("Noted.", "Your dog is called Rex.")
        config = parse_config(
            {
                "store": "memory://",
                "providers": {"fake": {"base_url": server.base_url}},
                "agents": {"helper": {"model": "fake:m", "memory": {"top_k": 2}}},
            },
            env={},
        )
        async with build_runtime(config) as rt:
            await collect(rt.runner.run("u", "s1", "My dog is called Rex."))
            events = await collect(rt.runner.run("u", "s2", "What is my dog called?"))
        system = server.bodies[1]["messages"][0]
    assert system["role"] == "system" and "user: My dog is called Rex." in system["content"]
    recalled = next(e for e in events if e.type == "knowledge.retrieved")
    assert recalled.data is not None and recalled.data["mode"] == "memory"
