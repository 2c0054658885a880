"""The fake OpenAI-compatible server itself: the three ways to run it, scripts, responders."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from agenthost.backends.common.http import make_http_client
from agenthost.testing.fake_openai import (
    FakeOpenAIServer,
    Reply,
    TextReply,
    echo_tool_responder,
    tool_call,
)

TOOLS = [{"type": "function", "function": {"name": "search", "parameters": {}}}]


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url + "/chat/completions", data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_echo_tool_responder() -> None:
    user = {"messages": [{"role": "user", "content": "hi"}], "tools": TOOLS}
    call = echo_tool_responder(user)
    assert call == tool_call("search", '{"query": "fake"}')
    tool_result = {"messages": [{"role": "tool", "content": "42"}], "tools": TOOLS}
    assert echo_tool_responder(tool_result) == TextReply("Done: 42")
    assert echo_tool_responder({"messages": [{"role": "user", "content": "yo"}]}) == TextReply(
        "Echo: yo"
    )


def test_in_a_thread_with_a_custom_responder() -> None:
    def responder(request: dict[str, Any]) -> Reply:
        return TextReply(f"{len(request['messages'])} messages")

    with FakeOpenAIServer.start_in_thread(responder=responder) as handle:
        handle.server.add("scripted first")
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        first = post(handle.base_url, body)
        assert first["choices"][0]["message"]["content"] == "scripted first"
        assert first["object"] == "chat.completion" and first["model"] == "m"
        assert first["usage"]["total_tokens"] > 0 and first["id"].startswith("chatcmpl-")
        second = post(handle.base_url, body)
        assert second["choices"][0]["message"]["content"] == "1 messages"
        assert handle.server.request_count == 2 and len(handle.server.bodies) == 2


def test_in_a_separate_process() -> None:
    with FakeOpenAIServer.start_in_process(latency=0.05) as handle:
        with urllib.request.urlopen(handle.base_url + "/models", timeout=5) as response:
            models = json.loads(response.read())
        assert models["object"] == "list" and models["data"][0]["id"] == "fake-model"
        start = time.perf_counter()
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": TOOLS}
        reply = post(handle.base_url, body)
        assert time.perf_counter() - start >= 0.05
        assert reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "search"
    assert handle.process.poll() is not None


def test_unknown_path_is_404() -> None:
    with FakeOpenAIServer.start_in_thread() as handle:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(handle.base_url + "/nope", timeout=5)
        assert info.value.code == 404
        info.value.close()


async def test_latency_and_count_only_with_many_keepalive_connections() -> None:
    async with FakeOpenAIServer(latency=0.1, record=False) as server, make_http_client() as client:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]})
        headers = {"Content-Type": "application/json"}

        async def one() -> str:
            url = server.base_url + "/chat/completions"
            async with client.post(url, data=body, headers=headers) as response:
                assert response.headers["connection"] == "keep-alive"
                return str((await response.json())["choices"][0]["message"]["content"])

        results = await asyncio.gather(*(one() for _ in range(200)))
        assert results == ["Echo: x"] * 200
        # concurrent, not one after another: each request had a connection of its own
        assert len(server._connections) == 200
        await one()  # the pool reuses its connections
        assert server.request_count == 201 and server.requests == []


def test_thread_start_failure_is_reported() -> None:
    with FakeOpenAIServer.start_in_thread() as handle:
        port = handle.server.port
        with pytest.raises(RuntimeError, match="did not start"):
            FakeOpenAIServer.start_in_thread(port=port)
