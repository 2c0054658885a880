"""MCP tools in code: start an MCP server, give its tools to an agent, run a turn.

Needs `pip install 'agenthost[mcp]' mcp-server-time`; the model comes from AGENTHOST_MODEL.
"""

from __future__ import annotations

import asyncio
import os
import sys

from agenthost import LLMAgent, McpServer, Runner, final_text, open_session_store


async def main() -> None:
    time = McpServer("time", command=sys.executable, args=["-m", "mcp_server_time"], timeout=30)
    async with time:  # starts the subprocess, lists its tools; stops it on exit
        print([tool.spec.name for tool in time.tools()])
        out = await time.call("get_current_time", {"timezone": "Asia/Tokyo"})
        print(out.content)

        agent = LLMAgent(
            model=os.environ.get("AGENTHOST_MODEL", "openai:gpt-4o-mini"),
            instructions="Tell the time with your tools.",
            tools=time.tools(allow=["get_current_time"]),
        )
        async with open_session_store("memory://") as store, Runner(agent, store=store) as runner:
            events = [e async for e in runner.run("me", None, "What time is it in Tokyo?")]
        print(final_text(events))


if __name__ == "__main__":
    asyncio.run(main())
