"""A Google ADK agent hosted by agenthost (pip install 'agenthost[adk]').

Run it against any OpenAI-compatible endpoint (ADK's own OpenAILlm): OPENAI_BASE_URL,
OPENAI_API_KEY, MODEL.
"""

import asyncio
import os

from google.adk.agents import LlmAgent
from google.adk.models import OpenAILlm

from agenthost import ADKAgent, Runner, open_session_store


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


weather = LlmAgent(
    name="weather",
    model=OpenAILlm(model=os.environ.get("MODEL", "gpt-4o-mini")),
    instruction="Answer briefly.",
    tools=[get_weather],
)


async def main() -> None:
    async with (
        open_session_store("memory://") as store,
        Runner(ADKAgent(weather), store=store) as runner,
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
