"""Bare agent loops: the floor every agenthost benchmark is compared with.

A "turn" is two chat-completions calls (user -> tool call, tool result -> text) with nothing
but one pooled HTTP client and orjson. Run against the fake server in a separate process so
it does not share the client's CPU or event loop::

    PYTHONPATH=src python benchmarks/bare_loops.py [--turns 2000] [--sessions 500]

(a) sequential turns at 0 ms latency: time per turn; (b) `sessions` concurrent sessions of
one turn each at 100 ms latency: wall time (the ideal is 2 x latency).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import httpx
import httpx2
import orjson

from agenthost.testing.fake_openai import FakeOpenAIServer

Post = Callable[[str, bytes], Awaitable[bytes]]
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]
CLIENTS = ("httpx2", "aiohttp", "httpx")


async def _turn(post: Post, base_url: str, history: list[dict[str, Any]]) -> str:
    url = base_url + "/chat/completions"
    history.append({"role": "user", "content": "What is new?"})
    body = {"model": "fake-model", "messages": history, "tools": TOOLS}
    first = orjson.loads(await post(url, orjson.dumps(body)))
    message = first["choices"][0]["message"]
    history.append(message)
    for call in message.get("tool_calls") or ():
        result = {"role": "tool", "tool_call_id": call["id"], "content": "42 results"}
        history.append(result)
    second = orjson.loads(await post(url, orjson.dumps(body)))
    answer = second["choices"][0]["message"]
    history.append(answer)
    return str(answer["content"])


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    kinds = args.clients.split(",")
    with FakeOpenAIServer.start_in_process(latency=0.0) as server:
        print(f"(a) sequential turns, 0 ms latency, {args.turns} turns (median of {args.repeat})")
        for kind in kinds:
            runs = [asyncio.run(run_sequential(kind, server.base_url, args.turns))]
            runs += [asyncio.run(run_sequential(kind, server.base_url, args.turns))
                     for _ in range(args.repeat - 1)]  # fmt: skip
            print(f"  {kind:8} {statistics.median(runs) * 1e3:7.3f} ms/turn")
    with FakeOpenAIServer.start_in_process(latency=0.1) as server:
        print(f"(b) {args.sessions} concurrent sessions, 100 ms latency (ideal 0.200 s)")
        for kind in kinds:
            runs = [asyncio.run(run_concurrent(kind, server.base_url, args.sessions))
                    for _ in range(args.repeat)]  # fmt: skip
            print(f"  {kind:8} {statistics.median(runs):7.3f} s wall")


if __name__ == "__main__":
    main()
