"""Serving an agent on stdin/stdout: one JSON-RPC message per line.

stdout belongs to the protocol. `serve_stdio` keeps a private copy of it for frames and points
file descriptor 1 at stderr, so a stray `print()` (or a C library writing to stdout) ends up
in the log instead of corrupting the stream. Log to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable

from agenthost.plugin._endpoint import Endpoint
from agenthost.ports import wire
from agenthost.ports.protocol import Agent

log = logging.getLogger("agenthost.plugin")

ReadLine = Callable[[], Awaitable[bytes]]
Send = Callable[[bytes], object]


def serve(agent: Agent) -> None:
    """Run `agent` as a plugin on stdio until the host says `shutdown` or closes stdin.

    The usual last line of a plugin script: `if __name__ == "__main__": serve(MyAgent())`.
    """
    _log_to_stderr()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends an interactive plugin
        asyncio.run(serve_stdio(agent))


async def serve_stdio(
    agent: Agent,
    *,
    reader: asyncio.StreamReader | None = None,
    writer: asyncio.StreamWriter | None = None,
) -> None:
    """Serve `agent` on the given streams (by default this process's stdin and stdout)."""
    endpoint = Endpoint(agent)
    if reader is None or writer is None:
        readline, send, close = await _stdio()
    else:
        readline, send, close = reader.readline, writer.write, writer.close
    try:
        async with asyncio.TaskGroup() as runs:
            await _read_frames(endpoint, readline, send, runs)
            endpoint.close()
    finally:
        endpoint.close()
        close()


async def _read_frames(
    endpoint: Endpoint, readline: ReadLine, send: Send, runs: asyncio.TaskGroup
) -> None:
    while not endpoint.shutdown_requested.is_set():
        try:
            line = await readline()
        except ValueError:  # longer than the frame limit: dropped
            log.error("a frame from the host exceeds %d bytes", wire.MAX_FRAME_BYTES)
            send(_parse_error("frame too long"))
            continue
        if not line:
            log.info("the host closed stdin; stopping")
            return
        if not line.strip():
            continue
        try:
            frame = wire.decode_frame(line)
        except wire.ProtocolError as exc:
            log.error("bad frame from the host: %s", exc)
            send(_parse_error(str(exc)))
            continue
        if frame.is_request and frame.method == "agent.run":
            runs.create_task(endpoint.run(frame, send))
        else:
            endpoint.answer(frame, send)


def _parse_error(message: str) -> bytes:
    return wire.error_response(None, wire.RpcError(code=wire.PARSE_ERROR, message=message))


async def _stdio() -> tuple[ReadLine, Send, Callable[[], None]]:
    """Non-blocking stdin and stdout when they are pipes (as a host starts a plugin); plain
    file reads and writes when they are files (a transcript replayed by hand)."""
    loop = asyncio.get_running_loop()
    stdin = os.fdopen(0, "rb", buffering=0)
    readline: ReadLine
    try:
        reader = asyncio.StreamReader(limit=wire.MAX_FRAME_BYTES)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        readline = reader.readline
    except ValueError:
        buffered = os.fdopen(0, "rb", closefd=False)

        async def readline() -> bytes:
            return await asyncio.to_thread(buffered.readline, wire.MAX_FRAME_BYTES + 1)

    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)  # fd 1 is stderr from now on; frames go to the private copy
    out = os.fdopen(protocol_fd, "wb", buffering=0)
    try:
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    except ValueError:
        return readline, out.write, out.close
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return readline, writer.write, writer.close


def _log_to_stderr() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
