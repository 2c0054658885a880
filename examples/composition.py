"""Agents made of agents: a chain, a parallel fan-out, a loop, a router that transfers, and an
agent used as a tool. Each prints its answer, and the chain shows who said what.

Runs on the embedded model with no key; set AGENTHOST_MODEL (e.g. openai:gpt-4o-mini) to use
another one.
"""

import asyncio
import os

from agenthost import (
    ChainAgent,
    LLMAgent,
    LoopAgent,
    ParallelAgent,
    Runner,
    TransferAgent,
    agent_tool,
    final_text,
    open_session_store,
)

MODEL = os.environ.get("AGENTHOST_MODEL", "local:smollm2")


def agent(name: str, instructions: str, **kw: object) -> LLMAgent:
    return LLMAgent(model=MODEL, name=name, instructions=instructions, **kw)


# each agent's answer is the next one's input
pipeline = ChainAgent(
    [
        agent("researcher", "List three facts about the topic."),
        agent("writer", "Write one short paragraph from these facts."),
    ],
    name="pipeline",
)

# the same question to several agents at once; one message combines their answers
panel = ParallelAgent(
    [
        agent("optimist", "Give the best case in one sentence."),
        agent("pessimist", "Give the worst case in one sentence."),
    ],
    name="panel",
)

# again and again, each answer the next input, until a condition holds
editor = LoopAgent(
    agent("editor", "Shorten this text. Say DONE when it is one sentence."),
    max_iterations=3,
    until=lambda text: "DONE" in text,
    name="editing",
)

# the router answers itself or hands the rest of the run to one of its targets
desk = TransferAgent(
    agent("triage", "Transfer billing questions to billing; answer the rest yourself."),
    [agent("billing", "Answer questions about invoices.", description="Invoices, payments.")],
    name="desk",
)

# an agent as a tool: the helper runs inside the caller's run, under the same grants
helper = agent("helper", "Answer the question in one word.")
boss = agent(
    "boss", "Use the helper when it helps.", tools=[agent_tool(helper, "ask_helper", "Ask it.")]
)


async def main() -> None:
    async with open_session_store("memory://") as store:
        for composed, question in [
            (pipeline, "Honey bees"),
            (panel, "Remote work"),
            (editor, "A long text about the sea, the wind and the boats."),
            (desk, "Where is my invoice?"),
            (boss, "What colour is the sky?"),
        ]:
            async with Runner(composed, store=store) as runner:
                events = [e async for e in runner.run("alice", None, question)]
            print(f"[{composed.manifest.name}] {final_text(events)}")
            if composed is pipeline:
                for event in events:
                    if event.type == "message.completed":
                        print(f"  {event.branch}: {event.text[:60]}")


if __name__ == "__main__":
    asyncio.run(main())
