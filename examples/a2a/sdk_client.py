"""An agenthost agent through the official A2A Python SDK client (pip install 'a2a-sdk>=1.3').

AGENTHOST_URL defaults to http://127.0.0.1:8000; AGENTHOST_API_KEY is needed when the server
has keys. Run by tests/unit/server/test_a2a_examples.py.
"""

import asyncio
import os
import uuid

import httpx
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState

URL = os.environ.get("AGENTHOST_URL", "http://127.0.0.1:8000")
KEY = os.environ.get("AGENTHOST_API_KEY", "local")


def ask(text: str, context_id: str = "") -> SendMessageRequest:
    """A user message; the same context_id continues the same conversation (session)."""
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        context_id=context_id,
    )
    return SendMessageRequest(message=message)


async def stream_answer(client: Client, text: str, context_id: str = "") -> tuple[str, str]:
    """Send `text` and print the answer as it streams; returns (task id, context id)."""
    task_id = ""
    async for event in client.send_message(ask(text, context_id)):
        kind = event.WhichOneof("payload")
        if kind == "task":  # first: the task (its id is the run id, its context the session)
            task_id, context_id = event.task.id, event.task.context_id
        elif kind == "artifact_update":  # the answer, a chunk at a time
            for part in event.artifact_update.artifact.parts:
                print(part.text, end="", flush=True)
        elif kind == "status_update":  # working, then completed (or failed, canceled)
            state = TaskState.Name(event.status_update.status.state)
            print(f"\n[{state}]" if state != "TASK_STATE_WORKING" else "", end="")
    print()
    return task_id, context_id


async def main() -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as http:
        card = await A2ACardResolver(http, f"{URL}/a2a/assistant").get_agent_card()
        print("agent:", card.name, "-", card.description)
        client = ClientFactory(ClientConfig(httpx_client=http)).create(card)

        task_id, context_id = await stream_answer(client, "What is the weather in Oslo?")
        task = await client.get_task(GetTaskRequest(id=task_id))
        answer = "".join(p.text for a in task.artifacts for p in a.parts)
        print("task:", TaskState.Name(task.status.state), "|", answer)

        # the same context: the agent has the conversation's history on its side
        await stream_answer(client, "And in Paris?", context_id)
        await client.close()


asyncio.run(main())
