"""Context compaction: a long chat whose requests stay under a token budget.

Every turn goes to the agent's model; when the request it is about to send passes
`budget_tokens`, the turns before the last `keep_turns` are summarised first and the summary is
stored in the session as a `compaction.summary` event. The raw events stay stored.

Offline: a fake OpenAI-compatible server (agenthost.testing) plays the agent's model, and a
`FunctionModel` plays the summariser (any ChatModel or 'provider:model' id works there, e.g.
'local:smollm2' or 'openai:gpt-4o-mini').

    python examples/compaction/long_chat.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from agenthost import Compaction, LLMAgent, Runner, collect, open_session_store
from agenthost.testing import FakeOpenAIServer, FunctionModel


def summarise(messages, tools):  # type: ignore[no-untyped-def]
    """A stand-in summariser: the first words of the last 6 questions it is shown."""
    lines = messages[-1].text.splitlines()
    topics = [line[6:40] for line in lines if line.startswith("User: ")]
    earlier = [line for line in lines if line.startswith("- ")]  # the previous summary
    return "\n".join([*earlier, *(f"- the user asked: {t}" for t in topics)][-6:])


async def main(db: str) -> None:
    agent = LLMAgent(
        model=os.environ["AGENTHOST_MODEL"],
        instructions="Answer in one line.",
        compaction=Compaction(
            budget_tokens=600,  # the most tokens one request to the model may have
            keep_turns=3,  # the newest turns kept word for word (the current one counts)
            model=FunctionModel(summarise, name="test:summariser"),
        ),
    )
    async with (
        open_session_store(f"sqlite:///{db}") as store,
        Runner(agent, store=store) as runner,
    ):
        for turn in range(30):
            events = await collect(
                runner.run("ann", "long", f"Question {turn}: tell me about topic {turn}. " * 3)
            )
            for event in events:
                if event.type == "compaction.summary":
                    data = event.data or {}
                    print(
                        f"turn {turn}: summarised events {data['start_seq']}-{data['end_seq']}"
                        f" ({data['tokens_before']} -> {data['tokens_after']} tokens)"
                    )
        session = await runner.get_session("ann", "long")
    received = [e for e in session.events if e.type == "message.received"]
    print(f"stored: {len(session.events)} events, all {len(received)} questions still readable")


async def offline() -> None:
    async with FakeOpenAIServer() as fake:  # echoes the user's message back
        os.environ.update(
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-fake", AGENTHOST_MODEL="openai:gpt-4o"
        )
        with tempfile.TemporaryDirectory() as folder:
            await main(os.path.join(folder, "chat.db"))


if __name__ == "__main__":
    asyncio.run(offline())
