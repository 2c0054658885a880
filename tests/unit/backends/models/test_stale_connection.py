"""A keep-alive connection the server closed while idle is retried once on a new one."""

from __future__ import annotations

import asyncio

import orjson

from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.providers import Provider
from agenthost.core.messages import Message

BODY = orjson.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)


async def test_request_survives_a_server_closed_idle_connection() -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request per connection; a second request on it finds it closed, as
        when a server drops a kept-alive connection while the client reuses it."""
        nonlocal connections
        connections += 1
        for served in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            if served:
                break
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = Provider("stale", base_url=f"http://127.0.0.1:{port}/v1", api_key="k")
    try:
        async with OpenAICompatibleModel("m", provider=provider) as model:
            for _ in range(3):
                await asyncio.sleep(0.05)
                response = await model.request([Message.user("hi")])
                assert response.message.text == "hi"
    finally:
        server.close()
        await server.wait_closed()
    assert connections >= 3
