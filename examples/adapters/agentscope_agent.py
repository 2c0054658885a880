"""An AgentScope agent hosted by agenthost (pip install 'agenthost[agentscope]').

Run it against any OpenAI-compatible endpoint: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""

import asyncio
import os

from agentscope.agent import Agent
from agentscope.credential import OpenAICredential
from agentscope.model import OpenAIChatModel
from agentscope.permission import PermissionContext, PermissionMode
from agentscope.state import AgentState
from agentscope.tool import FunctionTool, Toolkit

from agenthost import AgentScopeAgent, Runner, open_session_store


def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


model = OpenAIChatModel(
    credential=OpenAICredential(
        api_key=os.environ["OPENAI_API_KEY"], base_url=os.environ.get("OPENAI_BASE_URL")
    ),
    model=os.environ.get("MODEL", "gpt-4o-mini"),
)
weather = Agent(
    name="weather",
    system_prompt="Answer briefly.",
    model=model,
    toolkit=Toolkit(tools=[FunctionTool(get_weather)]),
    # the host runs tools without asking: nobody is there to confirm them
    state=AgentState(permission_context=PermissionContext(mode=PermissionMode.BYPASS)),
)


async def main() -> None:
    async with (
        open_session_store("memory://") as store,
        Runner(AgentScopeAgent(weather), store=store) as runner,
    ):
        for text in ("What is the weather in Paris?", "And what did I just ask?"):
            async for event in runner.run("alice", "s1", text):
                if event.type == "message.delta" and event.message:
                    print(event.message.text, end="", flush=True)
                elif event.type == "tool.call.started" and event.data:
                    print(f"[calling {event.data['tool_name']}]")
            print()
    await model.client.close()


if __name__ == "__main__":
    asyncio.run(main())
