"""The browser tools in code, without a model: a pool with its own policy and limits, a session
key, a page opened, clicked, read and saved as a screenshot.

    python examples/browser/browser_in_code.py [URL]

Without a URL it serves a small page on 127.0.0.1 itself (and allows 127.0.0.1 for that).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web

from agenthost import BrowserLimits, BrowserPool, BrowserTools, WebPolicy

PAGE = """<title>Fjords</title><h1>Fjords of Norway</h1><a href="/sogne">Sognefjord</a>"""
SOGNE = """<title>Sognefjord</title><p>The longest fjord in Norway: 205 km.</p>"""


async def browse(url: str, allowed: list[str]) -> None:
    pool = BrowserPool(
        policy=WebPolicy(allowed_hosts=allowed),  # public addresses, and these
        limits=BrowserLimits(navigation_timeout=15, max_chars=5_000, max_sessions=4),
    )
    async with BrowserTools(pool) as browser:  # the browser starts on first use
        session = ("demo", "me", "first")  # (app, user, session): one profile each
        print(await browser.open(session, url))
        print(await browser.click(session, ref="e1"))  # refs come from the page's controls
        shot = await browser.screenshot(session)
        await asyncio.to_thread(Path("page.png").write_bytes, shot.parts[0].data or b"")
        print(shot.content)

        # the same tools for an agent, LLMAgent(model=..., tools=tools): each run acts in the
        # profile of its own session
        tools = browser.tools()
        print([tool.spec.name for tool in tools])


async def main() -> None:
    if len(sys.argv) > 1:
        await browse(sys.argv[1], [])
        return
    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/sogne", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await browse(f"http://127.0.0.1:{runner.addresses[0][1]}/", ["127.0.0.1"])
    finally:
        await runner.cleanup()


async def page(request: web.Request) -> web.Response:
    text = PAGE if request.path == "/" else SOGNE
    return web.Response(text=text, content_type="text/html")


if __name__ == "__main__":
    asyncio.run(main())
