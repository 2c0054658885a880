"""The HTTP listener of the inputs that are called (the webhook input, Slack's Events API,
Telegram's webhook mode): an aiohttp app served on host:port for as long as a block runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """Serves `app` on `host`:`port` (no access log, no signal handlers) while the block runs;
    yields the port it listens on (the one the system chose when `port` is 0)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield int(runner.addresses[0][1]) if port == 0 else port
    finally:
        await runner.cleanup()
