"""Bare agent loops: the floor every agenthost benchmark is compared with.

A "turn" is two chat-completions calls (user -> tool call, tool result -> text) with nothing
but one pooled HTTP client and orjson. Run against the fake server in a separate process so
it does not share the client's CPU or event loop::

    .venv/bin/python -m benchmarks.bare_loops [--turns 2000] [--sessions 500]

(a) sequential turns at 0 ms latency: time per turn; (b) `sessions` concurrent sessions of
one turn each at 100 ms latency: wall time (the ideal is 2 x latency).

The same turn exists streamed (`stream_completer`): `"stream": true` with usage, the SSE frames
read as they arrive and assembled into the assistant message, as agenthost's streaming
agent does. The suite (`python -m benchmarks`) uses these loops as its references.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import httpx
import httpx2
import orjson

from agenthost.testing.fake_openai import FakeOpenAIServer

Post = Callable[[str, bytes], Awaitable[bytes]]
StreamPost = Callable[[str, bytes], AsyncIterator[bytes]]
Complete = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # body -> assistant message
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
MODEL = "fake-model"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    }
]  # exactly what agenthost sends for `async def search(query: str)` (checked by the suite)
USER_TEXT = "What is new?"
TOOL_RESULT = "42 results"
ANSWER = "Done: " + TOOL_RESULT  # what the fake server's echo_tool_responder answers
CLIENTS = ("httpx2", "aiohttp", "httpx")


async def turn(complete: Complete, history: list[dict[str, Any]]) -> str:
    """One turn: user message, tool call, tool result, answer; `history` grows by four."""
    history.append({"role": "user", "content": USER_TEXT})
    body = {"model": MODEL, "messages": history, "tools": TOOLS}
    message = await complete(body)
    history.append(message)
    for call in message.get("tool_calls") or ():
        result = {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT}
        history.append(result)
    answer = await complete(body)
    history.append(answer)
    return str(answer["content"])


def plain_completer(post: Post, base_url: str) -> Complete:
    url = base_url + "/chat/completions"

    async def complete(body: dict[str, Any]) -> dict[str, Any]:
        reply = orjson.loads(await post(url, orjson.dumps(body)))
        message: dict[str, Any] = reply["choices"][0]["message"]
        return message

    return complete


def stream_completer(stream_post: StreamPost, base_url: str) -> Complete:
    url = base_url + "/chat/completions"

    async def complete(body: dict[str, Any]) -> dict[str, Any]:
        request = {**body, "stream": True, "stream_options": {"include_usage": True}}
        content: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        buffer = b""
        async for chunk in stream_post(url, orjson.dumps(request)):
            buffer += chunk
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if not frame.startswith(b"data: ") or frame == b"data: [DONE]":
                    continue
                for choice in orjson.loads(frame[6:])["choices"]:
                    _merge_delta(choice["delta"], content, calls)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
        if calls:
            message["tool_calls"] = [calls[i] for i in sorted(calls)]
        return message

    return complete


def _merge_delta(
    delta: dict[str, Any], content: list[str], calls: dict[int, dict[str, Any]]
) -> None:
    text = delta.get("content")
    if text:
        content.append(text)
    for piece in delta.get("tool_calls") or ():
        function = piece.get("function") or {}
        call = calls.get(piece["index"])
        if call is None:
            call = calls[piece["index"]] = {
                "id": piece["id"],
                "type": "function",
                "function": {"name": function.get("name", ""), "arguments": ""},
            }
        call["function"]["arguments"] += function.get("arguments") or ""


async def _turn(post: Post, base_url: str, history: list[dict[str, Any]]) -> str:
    return await turn(plain_completer(post, base_url), history)


# ---- one post (and one streamed post) per client --------------------------------------------


def httpx2_post(client: httpx2.AsyncClient) -> Post:
    async def post(url: str, body: bytes) -> bytes:
        response = await client.post(url, content=body, headers=HEADERS)
        response.raise_for_status()
        return response.content

    return post


def httpx_post(client: httpx.AsyncClient) -> Post:
    async def post(url: str, body: bytes) -> bytes:
        response = await client.post(url, content=body, headers=HEADERS)
        response.raise_for_status()
        return response.content

    return post


def aiohttp_post(session: aiohttp.ClientSession) -> Post:
    async def post(url: str, body: bytes) -> bytes:
        async with session.post(url, data=body, headers=HEADERS) as response:
            response.raise_for_status()
            return await response.read()

    return post


def httpx2_stream_post(client: httpx2.AsyncClient) -> StreamPost:
    async def post(url: str, body: bytes) -> AsyncIterator[bytes]:
        async with client.stream("POST", url, content=body, headers=HEADERS) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                yield chunk

    return post


def httpx_stream_post(client: httpx.AsyncClient) -> StreamPost:
    async def post(url: str, body: bytes) -> AsyncIterator[bytes]:
        async with client.stream("POST", url, content=body, headers=HEADERS) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                yield chunk

    return post


def aiohttp_stream_post(session: aiohttp.ClientSession) -> StreamPost:
    async def post(url: str, body: bytes) -> AsyncIterator[bytes]:
        async with session.post(url, data=body, headers=HEADERS) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_any():
                yield chunk

    return post


async def bare_turn_httpx2(
    client: httpx2.AsyncClient, base_url: str, history: list[dict[str, Any]]
) -> str:
    return await _turn(httpx2_post(client), base_url, history)


async def bare_turn_httpx(
    client: httpx.AsyncClient, base_url: str, history: list[dict[str, Any]]
) -> str:
    return await _turn(httpx_post(client), base_url, history)


async def bare_turn_aiohttp(
    session: aiohttp.ClientSession, base_url: str, history: list[dict[str, Any]]
) -> str:
    return await _turn(aiohttp_post(session), base_url, history)


Opened = tuple[AbstractAsyncContextManager[Any], Callable[[Any], Post]]
_POSTS: dict[str, Callable[[Any], Post]] = {
    "httpx2": httpx2_post,
    "httpx": httpx_post,
    "aiohttp": aiohttp_post,
}
_STREAM_POSTS: dict[str, Callable[[Any], StreamPost]] = {
    "httpx2": httpx2_stream_post,
    "httpx": httpx_stream_post,
    "aiohttp": aiohttp_stream_post,
}


def open_client(kind: str, connections: int = 1000) -> Opened:
    """An unopened pooled client of `kind` and the function that makes its `post`."""
    if kind == "httpx2":
        limits2 = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx2.AsyncClient(limits=limits2, timeout=60.0), httpx2_post
    if kind == "httpx":
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(limits=limits, timeout=60.0), httpx_post
    if kind == "aiohttp":
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
        timeout = aiohttp.ClientTimeout(total=60.0)
        return aiohttp.ClientSession(connector=connector, timeout=timeout), aiohttp_post
    raise ValueError(f"unknown client {kind!r}; known: {', '.join(CLIENTS)}")


def completer(kind: str, opened: Any, base_url: str, *, stream: bool) -> Complete:
    """The `complete` function of an opened client of `kind`, plain or streamed."""
    if stream:
        return stream_completer(_STREAM_POSTS[kind](opened), base_url)
    return plain_completer(_POSTS[kind](opened), base_url)


async def run_sequential(kind: str, base_url: str, turns: int) -> float:
    """Seconds per turn, one turn after another (fresh history each turn)."""
    client, make_post = open_client(kind)
    async with client as opened:
        post = make_post(opened)
        for _ in range(20):  # warm up the connection and the code paths
            await _turn(post, base_url, [])
        start = time.perf_counter()
        for _ in range(turns):
            await _turn(post, base_url, [])
        return (time.perf_counter() - start) / turns


async def run_concurrent(kind: str, base_url: str, sessions: int) -> float:
    """Wall seconds for `sessions` concurrent one-turn sessions on one pooled client."""
    client, make_post = open_client(kind)
    async with client as opened:
        post = make_post(opened)
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(sessions):
                group.create_task(_turn(post, base_url, []))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    kinds = args.clients.split(",")
    with FakeOpenAIServer.start_in_process(latency=0.0) as server:
        print(f"(a) sequential turns, 0 ms latency, {args.turns} turns (median of {args.repeat})")
        for kind in kinds:
            runs = [asyncio.run(run_sequential(kind, server.base_url, args.turns))
                    for _ in range(args.repeat)]  # fmt: skip
            print(f"  {kind:8} {statistics.median(runs) * 1e3:7.3f} ms/turn")
    with FakeOpenAIServer.start_in_process(latency=0.1) as server:
        print(f"(b) {args.sessions} concurrent sessions, 100 ms latency (ideal 0.200 s)")
        for kind in kinds:
            runs = [asyncio.run(run_concurrent(kind, server.base_url, args.sessions))
                    for _ in range(args.repeat)]  # fmt: skip
            print(f"  {kind:8} {statistics.median(runs):7.3f} s wall")


if __name__ == "__main__":
    main()
