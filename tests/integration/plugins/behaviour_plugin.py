"""A plugin for tests: what it does depends on the message.

- "sleep S": answers "slept" after S seconds
- "meet N": answers "met" once N runs are inside the process at the same time (concurrency:
  runs served one after another would wait forever)
- "crash": streams a delta, then the process exits (code 3)
- "hang": streams a delta, then waits forever; when cancelled it writes "cancelled <run id>"
  to the file named by ctx.config["marker"]
- "history": asks for history it did not declare (refused), then answers
- "boom": raises an exception inside the agent
- "malformed": yields a dict that is not a valid result (the SDK sends what it is given)
- "model": streams a reply from the host's model "test:m", then asks it again without
  streaming
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from agenthost.core.errors import HostAPIError
from agenthost.core.messages import Message
from agenthost.plugin import serve, serve_http
from agenthost.ports.models import ResponseDone, TextDelta
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    MessageDelta,
    Permissions,
    RunCompleted,
    RunContext,
)

_inside = 0
_changed = asyncio.Condition()


async def meet(count: int) -> None:
    """Wait until `count` runs are in here at once."""
    global _inside
    async with _changed:
        _inside += 1
        _changed.notify_all()
        await _changed.wait_for(lambda: _inside >= count)


class Behaviour:
    manifest = Manifest(id="test:behaviour", name="behaviour", permissions=Permissions(models=True))

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[object]:
        command, _, arg = ctx.input.text.partition(" ")
        if command == "sleep":
            yield MessageDelta(text="sleeping")  # the test waits for it: the run is in here
            await asyncio.sleep(float(arg))
            reply = f"slept (pid {os.getpid()})"
        elif command == "meet":
            await meet(int(arg))
            reply = f"met (pid {os.getpid()})"
        elif command == "crash":
            yield MessageDelta(text="about to crash")
            await asyncio.sleep(0.05)
            os._exit(3)
        elif command == "hang":
            yield MessageDelta(text="hanging")
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                marker = Path(ctx.config["marker"])
                marker.write_text(f"cancelled {ctx.run_id}")  # noqa: ASYNC240 - a tiny file
                raise
            reply = "never"
        elif command == "history":
            try:
                await host.history_messages()
                reply = "history: ok"
            except HostAPIError as exc:
                reply = f"history: {exc.code}"
        elif command == "model":
            question = [Message.user("stream please")]
            async for event in host.stream_model("test:m", question):
                if isinstance(event, TextDelta):
                    yield MessageDelta(text=event.text)
                elif isinstance(event, ResponseDone):
                    streamed = event.response.message.text
            again = await host.invoke_model("test:m", [Message.user("once more")])
            reply = f"{streamed} / {again.message.text} / {again.usage.requests}"
        elif command == "malformed":
            yield {"type": "message.completed", "text": "no message field"}
            await asyncio.sleep(3600)
            reply = "never"
        elif command == "boom":
            raise RuntimeError("the agent blew up")
        else:
            reply = f"pid {os.getpid()}"
        yield [MessageCompleted(message=Message.assistant(reply)), RunCompleted()]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        serve_http(Behaviour(), "127.0.0.1", 0)
    else:
        serve(Behaviour())
