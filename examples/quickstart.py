"""Quick start: a tool-using agent in your own Python code.

Runs on the embedded model with no key; set AGENTHOST_MODEL (e.g. openai:gpt-4o-mini) to use
another one.
"""

import asyncio
import os

from agenthost import LLMAgent, Runner, open_session_store


async def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. "Paris".

    Examples:
        Will it rain in Oslo tomorrow? -> {"city": "Oslo"}
        How warm is it in Rome? -> {"city": "Rome"}
        What's the weather like in Tokyo? -> {"city": "Tokyo"}
    """
    return f"It is 21°C and sunny in {city}."


async def main() -> None:
    agent = LLMAgent(
        model=os.environ.get("AGENTHOST_MODEL", "local:smollm2"),
        instructions="You are a helpful assistant. Use the tools when they help.",
        tools=[get_weather],
    )
    async with (
        open_session_store("sqlite:///quickstart.db") as store,
        Runner(agent, store=store) as runner,
    ):
        async for event in runner.run("alice", "chat-1", "What is the weather in Paris?"):
            if event.type == "message.delta":
                print(event.text, end="", flush=True)
            elif event.type == "tool.call.completed":
                print(f"[tool result: {event.text}]")
            elif event.type == "run.completed":
                print(f"\n[done: {event.usage.total_tokens} tokens]")


if __name__ == "__main__":
    asyncio.run(main())
