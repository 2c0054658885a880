"""An OpenAI Agents SDK agent hosted by agenthost (pip install 'agenthost[openai-agents]').

Run it against any OpenAI-compatible endpoint: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""

import asyncio
import os

from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, function_tool
from openai import AsyncOpenAI

from agenthost import OpenAIAgentsAgent, Runner, open_session_store


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


weather = Agent(
    name="weather",
    instructions="Answer briefly.",
    model=OpenAIChatCompletionsModel(
        model=os.environ.get("MODEL", "gpt-4o-mini"), openai_client=AsyncOpenAI()
    ),
    model_settings=ModelSettings(include_usage=True),
    tools=[get_weather],
)


async def main() -> None:
    async with (
        open_session_store("memory://") as store,
        Runner(
            OpenAIAgentsAgent(weather, run_config=RunConfig(tracing_disabled=True)), store=store
        ) as runner,
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
