"""One research turn with the web tools of examples/web/agenthost.yaml.

    SEARXNG_URL=http://localhost:8888 AGENTHOST_MODEL=openai:gpt-4o-mini \
        python examples/web/research.py "What is a fjord?"
"""

import asyncio
import sys
from pathlib import Path

from agenthost import build_runtime, load_config


async def main(question: str) -> None:
    config = load_config(Path(__file__).with_name("agenthost.yaml"))
    async with build_runtime(config, agent="researcher") as rt:
        async for event in rt.runner.run("me", None, question):
            if event.type == "tool.call.started":
                print(f"[calling {event.data['tool_name']}]")
            elif event.type == "tool.call.completed":
                print(f"[tool result: {event.text}]")
            elif event.type == "message.completed":
                print(event.text)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "What is a fjord?"))
