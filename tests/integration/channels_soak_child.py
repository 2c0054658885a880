"""The runtime of the channel soak test, in its own process (so it can be killed -9).

    python channels_soak_child.py DB PORT RECEIVER_URL CRON_CONVERSATIONS

A webhook input on PORT (secret `soak`), a JSON-lines stdin input, CRON_CONVERSATIONS cron
inputs ticking every second, one webhook output to RECEIVER_URL; an echo agent on a fake
model. Prints `READY` when every client has started.
"""

from __future__ import annotations

import asyncio
import random
import sys

from agenthost import LLMAgent
from agenthost.channels import (
    ChannelRuntime,
    CronInput,
    DeliveryRetry,
    StdinInput,
    WebhookInput,
    WebhookOutput,
)
from agenthost.testing import FunctionModel


async def reply(messages: list[object], tools: object) -> str:
    await asyncio.sleep(random.uniform(0, 0.003))
    return "echo: " + messages[-1].text  # type: ignore[attr-defined]


async def main(db: str, port: int, url: str, crons: int) -> None:
    web = WebhookInput(name="web", secret="soak", port=port)
    inputs = [web, StdinInput(name="term", format="json")]
    inputs += [
        CronInput(name=f"cron{i}", schedule="* * * * * *", prompt=f"tick {i}") for i in range(crons)
    ]
    runtime = ChannelRuntime(
        inputs=inputs,
        outputs=[WebhookOutput(name="out", url=url)],
        reply_to={i.name: "out" for i in inputs},
        agent=LLMAgent(model=FunctionModel(reply)),
        store=f"sqlite:///{db}",
        concurrency=16,
        queue_size=64,
        retry=DeliveryRetry(base=0.01, max_delay=0.1, max_attempts=1000),
        grace=5,
    )
    task = asyncio.create_task(runtime.run())
    await runtime.started.wait()
    await web.listening.wait()
    print("READY", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
