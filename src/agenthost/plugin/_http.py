"""Serving an agent over HTTP (aiohttp): the same JSON-RPC frames as on stdio.

One endpoint, `POST <path>`, body = one JSON-RPC message:

- `agent.run` request: the answer is a stream (`application/x-ndjson`) of the frames the plugin
  sends for that run, one per line: `agent.result` notifications, `host.*` requests, and at
  the end the `agent.run` response. Closing the stream cancels the run.
- any other request (`initialize`, `agent.cancel`, `shutdown`): the answer is its JSON-RPC
  response (`application/json`).
- a response (the host answering a `host.*` request) or a notification (`host.stream_event`):
  `202 Accepted`, empty body.

So the plugin talks to the host on the run's stream and the host talks back with POSTs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Any

from agenthost.plugin._endpoint import Endpoint
from agenthost.ports import wire
from agenthost.ports.protocol import Agent

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("agenthost.plugin")

_END = b""


def build_app(agent: Agent, *, path: str = "/rpc") -> web.Application:
    """An aiohttp application serving `agent` at `path` (mount it in your own server, or use
    `serve_http`)."""
    return _build(Endpoint(agent), path)


def _build(endpoint: Endpoint, path: str) -> web.Application:
    from aiohttp import web

    app = web.Application(client_max_size=wire.MAX_FRAME_BYTES)

    async def rpc(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            frame = wire.decode_frame(body)
        except wire.ProtocolError as exc:
            error = wire.RpcError(code=wire.PARSE_ERROR, message=str(exc))
            return web.Response(
                status=400, body=wire.error_response(None, error), content_type="application/json"
            )
        if frame.is_request and frame.method == "agent.run":
            return await _stream_run(request, endpoint, frame)
        out: list[bytes] = []
        endpoint.answer(frame, out.append)
        if not out:
            return web.Response(status=202)
        return web.Response(body=out[0], content_type="application/json")

    async def on_shutdown(app: web.Application) -> None:
        endpoint.close()

    app.router.add_post(path, rpc)
    app.on_shutdown.append(on_shutdown)
    return app


async def _stream_run(
    request: web.Request, endpoint: Endpoint, frame: wire.Frame
) -> web.StreamResponse:
    from aiohttp import web

    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    async def run() -> None:
        try:
            await endpoint.run(frame, frames.put_nowait)
        finally:
            frames.put_nowait(_END)

    async with asyncio.TaskGroup() as group:
        task = group.create_task(run())
        try:
            while (chunk := await frames.get()) is not _END:
                await response.write(chunk)
        except ConnectionError:
            log.info("the host closed the stream of a run; cancelling it")
            task.cancel()
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


async def start_http(
    agent: Agent, host: str = "127.0.0.1", port: int = 8765, *, path: str = "/rpc"
) -> tuple[Any, str]:
    """Start serving; returns (aiohttp AppRunner, URL). Stop with `await runner.cleanup()`."""
    runner, url, _ = await _start(Endpoint(agent), host, port, path)
    return runner, url


async def _start(endpoint: Endpoint, host: str, port: int, path: str) -> tuple[Any, str, Endpoint]:
    from aiohttp import web

    runner = web.AppRunner(_build(endpoint, path), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, f"http://{host}:{bound}{path}", endpoint


def serve_http(
    agent: Agent, host: str = "127.0.0.1", port: int = 8765, *, path: str = "/rpc"
) -> None:
    """Serve `agent` over HTTP until interrupted or the host says `shutdown`. Prints
    `listening on <url>` to stderr once ready (port 0 picks a free port)."""
    from agenthost.plugin._stdio import _log_to_stderr

    _log_to_stderr()

    async def main() -> None:
        runner, url, endpoint = await _start(Endpoint(agent), host, port, path)
        print(f"listening on {url}", file=sys.stderr, flush=True)
        try:
            await endpoint.shutdown_requested.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends an interactive plugin
        asyncio.run(main())
