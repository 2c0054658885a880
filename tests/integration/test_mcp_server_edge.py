"""The agents as MCP tools (`POST /mcp`), called by the official MCP SDK's client over
streamable HTTP against a live uvicorn: same API keys, per-user sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from agenthost.server import create_app
from agenthost.testing.fake_openai import FakeOpenAIServer
from tests.unit.server.live import KEY, live_config, live_server

pytestmark = pytest.mark.integration

OTHER = "other-user-key-0123456789"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    with FakeOpenAIServer.start_in_thread() as fake:
        config = live_config(fake.base_url, tmp_path)
        app = create_app(config, api_keys=[f"{KEY}:sdk", f"{OTHER}:other"])
        with live_server(app) as url:
            yield url


@asynccontextmanager
async def mcp_client(url: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_each_agent_is_a_tool_that_answers_and_keeps_its_session(served: str) -> None:
    async with mcp_client(served, KEY) as client:
        listed = (await client.list_tools()).tools
        assert sorted(t.name for t in listed) == ["helper", "plain"]
        plain = next(t for t in listed if t.name == "plain")
        assert plain.input_schema["required"] == ["message"]
        assert set(plain.input_schema["properties"]) == {"message", "session_id"}

        first = await client.call_tool("plain", {"message": "hello over mcp"})
        assert not first.is_error
        assert first.content[0].text == "Echo: hello over mcp"  # type: ignore[union-attr]
        session_id = first.structured_content["session_id"]
        assert first.structured_content["status"] == "completed"

        again = await client.call_tool(
            "plain", {"message": "second turn", "session_id": session_id}
        )
        assert again.content[0].text == "Echo: second turn"  # type: ignore[union-attr]
        assert again.structured_content["session_id"] == session_id

        tooled = await client.call_tool("helper", {"message": "use the tool"})
        assert tooled.content[0].text == "Done: found fake"  # type: ignore[union-attr]

    # the session is the key's user's, seen through the native API too
    async with httpx.AsyncClient(base_url=served) as http:
        got = await http.get(
            f"/v1/apps/plain/sessions/{session_id}/events",
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert got.status_code == 200
        users = [e for e in got.json()["events"] if e["type"] == "message.received"]
        assert len(users) == 2
        hidden = await http.get(
            f"/v1/apps/plain/sessions/{session_id}/events",
            headers={"Authorization": f"Bearer {OTHER}"},
        )
        assert hidden.status_code == 404


async def test_another_user_cannot_continue_a_session(served: str) -> None:
    async with mcp_client(served, KEY) as client:
        made = await client.call_tool("plain", {"message": "mine"})
        session_id = made.structured_content["session_id"]
    async with mcp_client(served, OTHER) as client:
        taken = await client.call_tool("plain", {"message": "yours?", "session_id": session_id})
        assert taken.is_error
        assert "not found" in taken.content[0].text.lower()  # type: ignore[union-attr]


async def test_bad_arguments_are_tool_errors_naming_the_field(served: str) -> None:
    async with mcp_client(served, KEY) as client:
        empty = await client.call_tool("plain", {"message": "  "})
        assert empty.is_error
        assert "message" in empty.content[0].text  # type: ignore[union-attr]
        unknown = await client.call_tool("nobody", {"message": "hi"})
        assert unknown.is_error
        assert "helper, plain" in unknown.content[0].text  # type: ignore[union-attr]


async def test_without_a_valid_key_the_endpoint_answers_401(served: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(base_url=served) as http:
        for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}):
            answer = await http.post(
                "/mcp",
                json=body,
                headers={**headers, "Accept": "application/json, text/event-stream"},
            )
            assert answer.status_code == 401
            assert answer.json()["error"]["code"] == "unauthorized"
    with pytest.raises(Exception):  # noqa: B017 - the SDK's own error for a 401
        async with mcp_client(served, None) as client:
            await client.list_tools()
