"""A pydantic-ai agent hosted by agenthost (pip install 'agenthost[pydantic-ai]').

Run it against any OpenAI-compatible endpoint: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agenthost import PydanticAIAgent, Runner, open_session_store

model = OpenAIChatModel(
    os.environ.get("MODEL", "gpt-4o-mini"),
    provider=OpenAIProvider(base_url=os.environ.get("OPENAI_BASE_URL")),
)
weather = Agent(model, name="weather", instructions="Answer briefly.")


@weather.tool_plain
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def main() -> None:
    async with (
        open_session_store("memory://") as store,
        Runner(PydanticAIAgent(weather), store=store) as runner,
    ):
        for text in ("What is the weather in Paris?", "And what did I just ask?"):
            async for event in runner.run("alice", "s1", text):
                if event.type == "message.delta" and event.message:
                    print(event.message.text, end="", flush=True)
                elif event.type == "tool.call.started" and event.data:
                    print(f"[calling {event.data['tool_name']}]")
            print()


if __name__ == "__main__":
    asyncio.run(main())
