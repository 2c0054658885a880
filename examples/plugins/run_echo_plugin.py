"""The host side: run the echo plugin through a Runner, granting it the `add` tool.

python examples/plugins/run_echo_plugin.py
"""

import asyncio
import sys
from pathlib import Path

from agenthost import Permissions, PluginAgent, Runner, open_session_store

PLUGIN = Path(__file__).with_name("echo_plugin.py")


def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


async def main() -> None:
    plugin = PluginAgent(
        command=[sys.executable, str(PLUGIN)],
        allowed_permissions=Permissions(tools=True, state=["session"]),
        timeout=30,
    )
    async with (
        open_session_store("memory://") as store,
        Runner(plugin, store=store, tools=[add]) as runner,
    ):
        for text in ["hello", "add 2 3"]:
            async for event in runner.run("alice", "chat-1", text):
                if event.type == "message.completed":
                    print(event.text)
                elif event.type in ("run.completed", "run.failed"):
                    print(f"[{event.type}]")


if __name__ == "__main__":
    asyncio.run(main())
