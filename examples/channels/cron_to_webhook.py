"""A cron input and a webhook output on 127.0.0.1: every second the agent is asked for a
status line, and each reply is POSTed, signed, to a receiver (started here too) that
verifies the signature and prints it. Stops after three replies.

    python examples/channels/cron_to_webhook.py
"""

import asyncio
import os

from aiohttp import web

from agenthost import ChannelRuntime, CronInput, LLMAgent, WebhookOutput, verify_webhook

SECRET = "change-me"


async def main() -> None:
    replies: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:  # the other side: a platform
        body = await request.read()
        if verify_webhook(SECRET, request.headers, body) is not None:
            return web.Response(status=401)
        await replies.put(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/replies", receive)
    server = web.AppRunner(app)
    await server.setup()
    await web.TCPSite(server, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.addresses[0][1]}/replies"

    runtime = ChannelRuntime(
        inputs=[CronInput(name="status", schedule="* * * * * *", prompt="One status line.")],
        outputs=[WebhookOutput(name="hook", url=url, secret=SECRET)],
        agent=LLMAgent(model=os.environ.get("AGENTHOST_MODEL", "openai:gpt-4o-mini")),
        store="sqlite:///" + os.path.join(os.environ.get("AGENTHOST_HOME", "."), "channels.db"),
    )
    task = asyncio.create_task(runtime.run())
    for _ in range(3):
        reply = await replies.get()
        print(f"{reply['conversation']}: {reply['text']}")
    runtime.stop()  # what SIGINT/SIGTERM do: runs finish, outputs flush
    await task
    await server.cleanup()


asyncio.run(main())
