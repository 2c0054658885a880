"""A plugin for the agent-kind contract suite, written with the plugin SDK: it relays the
fake upstream (FakePlatform at $FAKE_URL) to the host.

For each run it POSTs {"input", "history"} (the history it read from the host) to
`$FAKE_URL/plugin/run` and turns the SSE answer into results: `{"delta": text}` is a message
delta, `{"tool": name, "arguments": {...}}` a call of the host's tool, `{"done": true}` the end
of the reply. When the answer breaks off the plugin process
dies (the upstream broke off); when the run is cancelled its request to the fake is closed,
which the fake sees.

    python relay_plugin.py            # on stdio
    python relay_plugin.py --http     # over HTTP on a free port
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from agenthost.core.messages import Message
from agenthost.plugin import serve, serve_http
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    MessageDelta,
    Permissions,
    RunCompleted,
    RunContext,
    ToolCallCompleted,
    ToolCallStarted,
)


class Relay:
    manifest = Manifest(
        id="test:relay", name="relay", permissions=Permissions(tools=True, history=["page"])
    )

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[object]:
        history = [[m.role, m.text] for m in await host.history_messages()]
        body = {"input": ctx.input.text, "history": history}
        text: list[str] = []
        async with (
            aiohttp.ClientSession() as http,
            http.post(os.environ["FAKE_URL"] + "/plugin/run", json=body) as answer,
        ):
            try:
                async for line in answer.content:
                    if not line.startswith(b"data:"):
                        continue
                    frame = orjson.loads(line[5:])
                    async for result in self._results(frame, text, host):
                        yield result
                    if "done" in frame:
                        return
            except aiohttp.ClientError:
                pass
        os._exit(3)  # the upstream broke off: so does this plugin

    async def _results(
        self, frame: dict[str, Any], text: list[str], host: HostAPI
    ) -> AsyncIterator[object]:
        if "delta" in frame:
            text.append(frame["delta"])
            yield MessageDelta(text=frame["delta"])
        elif "tool" in frame:
            call_id, name = "call_1", frame["tool"]
            yield ToolCallStarted(
                tool_call_id=call_id,
                tool_name=name,
                parameters=orjson.dumps(frame["arguments"]).decode(),
            )
            output = await host.call_tool(name, frame["arguments"])
            yield ToolCallCompleted(tool_call_id=call_id, tool_name=name, result=output.content)
        elif "done" in frame:
            yield [MessageCompleted(message=Message.assistant("".join(text))), RunCompleted()]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        serve_http(Relay(), "127.0.0.1", 0)
    else:
        serve(Relay())
