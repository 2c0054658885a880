"""An agent in its own process: echoes the message, counts turns in session state, and does
"add 2 3" with the host's `add` tool.

Run by a host as a subprocess on stdio (`python examples/plugins/echo_plugin.py`), or served
over HTTP (`python examples/plugins/echo_plugin.py --http 127.0.0.1:8765`).
"""

import os
import sys
from collections.abc import AsyncIterator

from agenthost import (
    HostAPI,
    HostAPIError,
    Manifest,
    Message,
    MessageCompleted,
    MessageDelta,
    Permissions,
    RunCompleted,
    RunContext,
)
from agenthost.plugin import serve, serve_http


class EchoAgent:
    manifest = Manifest(
        id="example:echo",
        name="echo",
        description="Echoes; adds two numbers with the host's add tool.",
        permissions=Permissions(tools=True, state=["session"]),
    )

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[object]:
        turns = (await host.state.get("session", "turns") or 0) + 1
        await host.state.set("session", "turns", turns)
        words = ctx.input.text.split()
        if len(words) == 3 and words[0] in ("add", "secret"):
            tool = "add" if words[0] == "add" else "secret"
            try:
                output = await host.tools.call(tool, {"a": float(words[1]), "b": float(words[2])})
                reply = f"{words[1]} + {words[2]} = {output.content}"
            except HostAPIError as refused:
                reply = f"the host refused {tool}: {refused.code}"
        else:
            reply = f"echo: {ctx.input.text}"
        reply += f" (turn {turns}, pid {os.getpid()})"
        for word in reply.split(" "):
            yield MessageDelta(text=word + " ")
        yield [MessageCompleted(message=Message.assistant(reply)), RunCompleted()]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        host, _, port = sys.argv[2].rpartition(":")
        serve_http(EchoAgent(), host, int(port))
    else:
        serve(EchoAgent())
