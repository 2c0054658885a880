"""Child process for test_approval_restart. `pause URL`: run a turn whose tool needs approval,
print the approval id once the run has paused, then wait to be killed. `answer URL ID
(approve|reject) [ARGS]`: a new process on the same store answers it and prints each event
type; the tool appends its arguments to the file named by APPROVAL_LOG."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from agenthost.backends.sessions import open_session_store
from agenthost.engine.function_tool import function_tool
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import ScriptedModel, tool_call


@function_tool(requires_approval=True)
def send_money(to: str, amount: int) -> str:
    """Send money."""
    with open(os.environ["APPROVAL_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"to": to, "amount": amount, "pid": os.getpid()}) + "\n")
    return f"sent {amount} to {to}"


async def main(mode: str, url: str, *rest: str) -> None:
    steps = (
        [tool_call("send_money", '{"to": "bob", "amount": 500}')]
        if mode == "pause"
        else ["the payment is settled"]
    )
    async with open_session_store(url) as store:
        agent = LLMAgent(model=ScriptedModel(steps), tools=[send_money])
        async with Runner(agent, store=store, app="restart") as runner:
            if mode == "pause":
                async for event in runner.run("alice", "s1", "pay bob"):
                    if event.type == "approval.requested":
                        print((event.data or {})["approval_id"], flush=True)
                    if event.type == "run.completed":
                        print((event.data or {})["status"], flush=True)
                await asyncio.sleep(3600)  # killed here: the pause is all in the store
            approval_id, decision, *args = rest
            arguments = json.loads(args[0]) if args else None
            events = runner.answer_approval(
                "alice", approval_id, approve=decision == "approve", arguments=arguments
            )
            async for event in events:
                if not event.partial:
                    print(event.type, (event.data or {}).get("status", ""), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
