"""A remote A2A agent as one of ours: A2AAgent in a Runner, with sessions, events and cancel.

A2A_AGENT_URL is the remote agent's card URL or base URL (default: the `echo` agent of an
agenthost server on 127.0.0.1:8000, which serves A2A); A2A_API_KEY its key, if it needs one.
Run by tests/unit/server/test_a2a_examples.py.
"""

import asyncio
import os

from agenthost import A2AAgent, Runner, open_session_store

CARD_URL = os.environ.get("A2A_AGENT_URL", "http://127.0.0.1:8000/a2a/echo")


async def main() -> None:
    agent = A2AAgent(
        card_url=CARD_URL,  # .../.well-known/agent-card.json, or the agent's base URL
        name="remote",
        api_key=os.environ.get("A2A_API_KEY"),  # sent as Authorization: Bearer <key>
        timeout=300,  # seconds for a whole turn
        idle_timeout=120,  # seconds of silence allowed in the stream
    )
    async with open_session_store("memory://") as store, Runner(agent, store=store) as runner:
        for text in ("Hello!", "What did I just say?"):  # one session: one remote context
            async for event in runner.run("me", "chat-1", text):
                if event.type == "message.delta":
                    print(event.text, end="", flush=True)
                elif event.type == "run.completed":
                    print("  [done]")
                elif event.type == "run.failed" and event.error is not None:
                    print(f"[failed: {event.error.code}: {event.error.message}]")
        session = await runner.get_session("me", "chat-1")
        print("remote context:", session.state.get("remote.context_id"))
        print("card:", agent.card.name if agent.card is not None else None)


asyncio.run(main())
