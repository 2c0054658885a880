"""A tool's image over real HTTP to the fake OpenAI-compatible server: the request after the
tool result holds a `user` message with the `image_url` part right after the `tool` message; a
text-only model gets a line naming the image instead, and the run does not fail."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.models import infer_model
from agenthost.backends.models._input import TEXT_ONLY
from agenthost.backends.models.providers import ProviderSettings
from agenthost.backends.sessions import MemorySessionStore
from agenthost.core.messages import ImagePart
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.model_chain import RetryPolicy
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.tools import ToolOutput
from agenthost.testing._fake_replies import TextReply, ToolCall, ToolCallsReply
from agenthost.testing.fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


async def screenshot() -> ToolOutput:
    """Take a screenshot."""
    return ToolOutput(
        content=f"[image: image/png, {len(PNG)} bytes] screenshot of the page",
        parts=(ImagePart(data=PNG, mime_type="image/png"),),
    )


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as srv:
        srv.add(ToolCallsReply(calls=(ToolCall("screenshot", id="call_1"),)), TextReply("I see it"))
        yield srv


async def run_with(server: FakeOpenAIServer, *, text_only: bool, stream: bool) -> list[Any]:
    providers = {"fake": ProviderSettings(base_url=server.base_url, api_key="sk-test")}
    model = infer_model("fake:gpt-4o-mini", providers=providers)
    if text_only:
        model.input_policy = TEXT_ONLY  # type: ignore[attr-defined]
    agent = LLMAgent(model=model, tools=[screenshot], retry=RetryPolicy(retries=0), stream=stream)
    async with model, Runner(agent, store=MemorySessionStore()) as runner:
        events = await collect(runner.run("u", "s", "what is on the page?"))
    assert events[-1].type == "run.completed", events[-1]
    assert final_text(events) == "I see it"
    return server.bodies[1]["messages"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("stream", [False, True])
async def test_the_image_follows_the_tool_message(server: FakeOpenAIServer, stream: bool) -> None:
    sent = await run_with(server, text_only=False, stream=stream)
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[2]["tool_call_id"] == "call_1"
    assert sent[2]["content"].startswith("[image: image/png, 48 bytes] screenshot")
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert sent[3]["content"] == [
        {"type": "text", "text": "The image returned by tool screenshot (call call_1):"},
        {"type": "image_url", "image_url": {"url": url}},
    ]


async def test_a_text_only_model_reads_the_text_and_the_run_goes_on(
    server: FakeOpenAIServer,
) -> None:
    sent = await run_with(server, text_only=True, stream=False)
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert "image_url" not in str(sent)
    assert sent[3]["content"] == (
        "The image returned by tool screenshot (call call_1):[image: image/png, 48 bytes]"
    )


def test_the_example_shows_the_image_after_the_tool_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "multimodal" / "tool_image.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "answer: All green.",
        "tool -> [image: image/png, 32 bytes] the dashboard",
        "[image/png saved as artifact://tool-outputs/snapshot-0.png?version=0]",
        "user -> ['The image returned by tool snapshot (call call_1):', "
        "'data:image/png;base64,iVBORw0K']",
    ]
