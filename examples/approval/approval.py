"""Human approval: a tool call waits for a person, and the answer comes from a new Runner on
the same store (as after a restart: the pause lives in the session's events).

Offline: a fake OpenAI-compatible server (agenthost.testing) plays the model.

    python examples/approval/approval.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from agenthost import LLMAgent, Runner, function_tool, open_session_store
from agenthost.testing import FakeOpenAIServer, TextReply, ToolCall, ToolCallsReply


@function_tool(requires_approval=True)
def send_money(to: str, amount: int) -> str:
    """Send money to someone.

    Args:
        to: who gets it
        amount: how much, in euros
    """
    return f"sent {amount} EUR to {to}"


def make_agent() -> LLMAgent:
    return LLMAgent(model=os.environ["AGENTHOST_MODEL"], tools=[send_money])


async def main(db: str) -> None:
    async with open_session_store(f"sqlite:///{db}") as store:
        async with Runner(make_agent(), store=store) as runner:
            async for event in runner.run("ann", "pay", "Send Bob 500 euros."):
                if event.type == "approval.requested":
                    print("waiting:", event.data["tool_name"], event.data["arguments"])  # type: ignore[index]
                elif event.type == "run.completed":
                    print("run:", event.data["status"])  # type: ignore[index]

        # later, maybe in another process: the pause is in the store
        async with Runner(make_agent(), store=store) as runner:
            [pending] = await runner.pending_approvals("ann")
            events = runner.answer_approval(
                "ann", pending.approval_id, approve=True, arguments={"to": "Bob", "amount": 50}
            )
            async for event in events:
                if event.type == "tool.call.completed":
                    print("tool:", event.text.splitlines()[-1])
                elif event.type == "message.completed" and event.text:
                    print("agent:", event.text)


async def offline() -> None:
    script = [
        ToolCallsReply((ToolCall("send_money", {"to": "Bob", "amount": 500}),)),
        TextReply("I sent Bob 50 euros, as you changed it."),
    ]
    async with FakeOpenAIServer(script) as fake:
        os.environ.update(
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-fake", AGENTHOST_MODEL="openai:m"
        )
        with tempfile.TemporaryDirectory() as folder:
            await main(os.path.join(folder, "approval.db"))


if __name__ == "__main__":
    asyncio.run(offline())
