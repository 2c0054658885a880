"""The browser tools in a run: the agent of agenthost.yaml opens a page, clicks a button,
takes a screenshot. With a real model, chat with it instead:

    AGENTHOST_MODEL=openai:gpt-4o-mini agenthost chat -c examples/browser/agenthost.yaml

Offline: this script serves a small page on 127.0.0.1 (allowed for the run with
AGENTHOST_WEB_ALLOWED_HOSTS=127.0.0.1) and a fake OpenAI-compatible server (agenthost.testing)
plays the model and asks for the three tool calls; the browser is real.

    python examples/browser/surf.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from agenthost import build_runtime, load_config
from agenthost.testing import FakeOpenAIServer, TextReply, ToolCall, ToolCallsReply

PAGE = """<title>Fjords</title><h1>Fjords of Norway</h1>
<button onclick="this.textContent = 'Geiranger, Sogne, Hardanger'">Show the fjords</button>"""


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def main() -> None:
    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    script = [
        ToolCallsReply((ToolCall("browser_open", {"url": url}),)),
        ToolCallsReply((ToolCall("browser_click", {"text": "Show the fjords"}),)),
        ToolCallsReply((ToolCall("browser_screenshot", {}),)),
        TextReply("Done: three fjords are listed."),
    ]
    try:
        async with FakeOpenAIServer(script) as fake:
            os.environ.update(
                OPENAI_BASE_URL=fake.base_url,
                OPENAI_API_KEY="sk-fake",
                AGENTHOST_MODEL="openai:m",
                AGENTHOST_WEB_ALLOWED_HOSTS="127.0.0.1",
            )
            config = load_config(Path(__file__).with_name("agenthost.yaml"))
            async with build_runtime(config) as runtime:  # closes the browser on exit
                async for event in runtime.runner.run("ann", "fjords", "Which fjords?"):
                    if event.type == "tool.call.completed":
                        print(f"[{event.data['tool_name']}] {event.text}")
                    elif event.type == "message.completed" and event.text:
                        print(event.text)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
