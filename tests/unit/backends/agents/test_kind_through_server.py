"""A Dify app is served like any agent: native API and OpenAI-compatible API, config only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agenthost.config import load_config
from agenthost.server import create_app

from .fake_platform import FakePlatform
from .test_dify import CHAT, HELLO


async def test_a_dify_agent_behind_the_server(
    fake: FakePlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    path = tmp_path / "agenthost.yaml"
    path.write_text(
        "store: memory://\n"
        "agents:\n"
        "  support:\n"
        "    kind: dify\n"
        f"    base_url: {fake.base_url}/v1\n"
        "    api_key: app-k\n"
    )
    fake.add(CHAT, HELLO)
    fake.add(CHAT, HELLO)
    app = create_app(load_config(path), api_keys=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
    ):
        native = await client.post("/v1/apps/support/runs", json={"message": "hi", "stream": False})
        assert native.status_code == 200, native.text
        assert native.json()["status"] == "completed"
        openai = await client.post(
            "/v1/chat/completions",
            json={"model": "support", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert openai.status_code == 200, openai.text
        assert openai.json()["choices"][0]["message"]["content"] == "Hello"
    assert len(fake.calls(CHAT)) == 2
