"""A knowledge base in Python: store, add, hybrid search, and an agent that answers from it.

Runs offline: the embedded embedder ships in the wordllama wheel, and the agent's model here is
a scripted test model (swap in "openai:gpt-4o-mini" or "local:smollm2").
"""

import asyncio

from agenthost import (
    LLMAgent,
    Retrieval,
    Runner,
    collect,
    open_knowledge_store,
    open_session_store,
)
from agenthost.testing import ScriptedModel


async def main() -> None:
    async with open_knowledge_store("memory://") as store:  # or sqlite:///kb.db, postgresql://
        await store.create("alice", "faq", chunk_size=400, chunk_overlap=40)
        await store.add("alice", "faq", "returns.md", "Bikes can be returned within 30 days.")
        await store.add(
            "alice",
            "faq",
            "service.md",
            "A basic service costs 45 euros and takes one working day.",
            {"team": "workshop"},  # metadata: filters match it exactly
        )
        for chunk in await store.search("alice", "faq", "price of a tune-up", top_k=1):
            print(f"hybrid: {chunk.document} chunk {chunk.index}: {chunk.text}")
        found = await store.search(
            "alice", "faq", "days", mode="text", filters={"team": "workshop"}
        )
        print("text + filter:", [c.document for c in found])

        agent = LLMAgent(
            model=ScriptedModel(["You have 30 days."]),
            instructions="Answer from the excerpts.",
            retrieval=Retrieval(bases=[store.base("alice", "faq")], mode="context", top_k=2),
        )
        async with open_session_store("memory://") as sessions:
            runner = Runner(agent, store=sessions)
            events = await collect(runner.run("alice", "s1", "How long can I return a bike?"))
        for event in events:
            if event.type == "knowledge.retrieved" and event.data:
                cited = [(c["document"], c["chunk"]) for c in event.data["citations"]]
                print("cited:", cited)
            if event.type == "message.completed" and event.message:
                print("answer:", event.message.text)


asyncio.run(main())
