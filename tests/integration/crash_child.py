"""Child process for test_crash_recovery: runs a turn whose tool hangs, printing each event
id as soon as it is yielded, until the parent kills it with SIGKILL."""

from __future__ import annotations

import asyncio
import sys

from agenthost.backends.sessions import open_session_store
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import ScriptedModel, tool_call


async def hang() -> str:
    """Never returns."""
    await asyncio.sleep(3600)
    return "unreachable"


async def main(url: str) -> None:
    model = ScriptedModel([tool_call("hang"), "never"])
    async with open_session_store(url) as store:
        agent = LLMAgent(model=model, tools=[hang])
        async with Runner(agent, store=store, app="crash") as runner:  # as the server does
            async for event in runner.run("u", "s", "start"):
                if not event.partial:
                    print(event.id, event.type, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
