"""A LangGraph graph hosted by agenthost (pip install 'agenthost[langgraph]').

Run it against any OpenAI-compatible endpoint: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""

import asyncio
import os
from typing import Any

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from agenthost import LangGraphAgent, Runner, open_session_store


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


llm = ChatOpenAI(model=os.environ.get("MODEL", "gpt-4o-mini"), streaming=True, stream_usage=True)
model = llm.bind_tools([get_weather])


async def call_model(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


builder = StateGraph(MessagesState)
builder.add_node("agent", call_model)
builder.add_node("tools", ToolNode([get_weather]))
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", tools_condition)
builder.add_edge("tools", "agent")
graph = builder.compile(name="weather")


async def main() -> None:
    agent = LangGraphAgent(graph, input_key="messages")
    async with open_session_store("memory://") as store, Runner(agent, store=store) as runner:
        for text in ("What is the weather in Paris?", "And what did I just ask?"):
            async for event in runner.run("alice", "s1", text):
                if event.type == "message.delta" and event.message:
                    print(event.message.text, end="", flush=True)
                elif event.type == "tool.call.started" and event.data:
                    print(f"[calling {event.data['tool_name']}]")
            print()


if __name__ == "__main__":
    asyncio.run(main())
