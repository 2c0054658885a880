"""A pydantic-ai agent given agenthost's knowledge base, each user's long-term memory and the
session's files as tools (pip install 'agenthost[pydantic-ai,knowledge]').

Run it against any OpenAI-compatible endpoint: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agenthost import (
    InMemoryKnowledgeBase,
    KnowledgeMemory,
    PydanticAIAgent,
    Runner,
    open_artifact_store,
    open_knowledge_store,
    open_session_store,
)

model = OpenAIChatModel(
    os.environ.get("MODEL", "gpt-4o-mini"),
    provider=OpenAIProvider(base_url=os.environ.get("OPENAI_BASE_URL")),
)
shop = Agent(model, name="shop", instructions="Answer from the handbook and what you recall.")
handbook = InMemoryKnowledgeBase("handbook", {"returns.md": "Bikes can be returned in 30 days."})


async def main() -> None:
    async with (
        open_session_store("memory://") as store,
        open_knowledge_store("memory://") as knowledge,
        open_artifact_store("memory://") as files,
    ):
        memory = KnowledgeMemory(knowledge)  # each user's memories: a base of the store
        await memory.add("alice", "Alice rides a red gravel bike.", app="default")
        await memory.add("bob", "Bob is looking for a child seat.", app="default")
        agent = PydanticAIAgent(shop, knowledge=[handbook], memory=True, artifacts=True)
        async with Runner(agent, store=store, memory=memory, artifacts=files) as runner:
            for user in ("alice", "bob"):
                async for event in runner.run(user, None, "What do you know about me?"):
                    if event.type == "tool.call.completed" and event.message and event.data:
                        result = getattr(event.message.parts[0], "content", "")
                        print(f"[{user}] {event.data['tool_name']}: {result}")
                    elif event.type == "knowledge.retrieved" and event.data:
                        print(f"[{user}] cited: {event.data['citations'][0]['document']}")


if __name__ == "__main__":
    asyncio.run(main())
