"""Call the agents of `agenthost serve` as MCP tools, with the official MCP SDK's client.

AGENTHOST_URL=http://127.0.0.1:8000 AGENTHOST_API_KEY=... python call_agents.py
"""

from __future__ import annotations

import asyncio
import os

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main() -> None:
    url = os.environ.get("AGENTHOST_URL", "http://127.0.0.1:8000") + "/mcp"
    headers = {"Authorization": f"Bearer {os.environ['AGENTHOST_API_KEY']}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        tools = await client.list_tools()
        print("agents:", ", ".join(tool.name for tool in tools.tools))
        first = await client.call_tool("plain", {"message": "hello"})
        print(first.content[0].text)  # type: ignore[union-attr]
        session_id = first.structured_content["session_id"]  # to go on in the same session
        again = await client.call_tool("plain", {"message": "again", "session_id": session_id})
        print(again.content[0].text)  # type: ignore[union-attr]


if __name__ == "__main__":
    asyncio.run(main())
