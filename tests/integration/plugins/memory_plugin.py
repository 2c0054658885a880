"""A plugin for tests: uses `host.memory` over JSON-RPC and answers with what it saw.

- "add TEXT": remembers TEXT, answers with its memory id
- "search QUERY": answers with the texts of the user's memories that match
- "list": the ids of the user's memories
- "delete ID": deletes one, answers whether it was there

With `--undeclared` its manifest does not declare `memory` (every call is refused).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson

from agenthost.core.errors import HostAPIError
from agenthost.core.messages import Message
from agenthost.plugin import serve
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    Permissions,
    ResultBatch,
    RunCompleted,
    RunContext,
)


class Memo:
    manifest = Manifest(id="test:memory", name="memo", permissions=Permissions(memory=True))

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        command, _, arg = ctx.input.text.partition(" ")
        reply: dict[str, Any]
        try:
            memory = host.memory
            if memory is None:
                reply = {"refused": "no memory"}
            elif command == "add":
                reply = {"added": await memory.add(arg, metadata={"from": "plugin"})}
            elif command == "search":
                chunks = await memory.search(arg, top_k=5)
                reply = {"found": [c.text for c in chunks]}
            elif command == "list":
                found = await memory.list()
                reply = {
                    "listed": [m.memory_id for m in found],
                    "meta": [m.metadata for m in found],
                }
            else:
                reply = {"deleted": await memory.delete(arg)}
        except HostAPIError as exc:
            reply = {"refused": exc.code, "message": exc.message}
        text = orjson.dumps(reply).decode()
        yield [MessageCompleted(message=Message.assistant(text)), RunCompleted()]


if __name__ == "__main__":
    if "--undeclared" in sys.argv:
        Memo.manifest = Manifest(id="test:memory", name="memo")
    serve(Memo())
