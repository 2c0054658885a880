"""A plugin for tests: uses `host.artifacts` over JSON-RPC and answers with what it saw.

- "save": saves `notes/plan.md` twice (the second time bytes that are not UTF-8), loads
  version 0 and the newest, lists and gives the versions, deletes `scratch.bin`
- "user": saves `user:prefs.json` (refused when the run has no user scope)
- "read NAME": answers with the newest bytes of NAME, as hex, or "none"

With `--undeclared` its manifest does not declare `artifacts` (every call is refused).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import orjson

from agenthost.core.errors import HostAPIError
from agenthost.core.messages import Message
from agenthost.plugin import serve, serve_http
from agenthost.ports.protocol import (
    HostAPI,
    Manifest,
    MessageCompleted,
    Permissions,
    ResultBatch,
    RunCompleted,
    RunContext,
)

BINARY = bytes(range(256))  # every byte value: base64 must carry them all


class Files:
    manifest = Manifest(id="test:artifacts", name="files", permissions=Permissions(artifacts=True))

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        command, _, arg = ctx.input.text.partition(" ")
        artifacts = host.artifacts
        assert artifacts is not None
        try:
            if command == "save":
                first = await artifacts.save(
                    "notes/plan.md", b"# plan\n", mime_type="text/markdown"
                )
                second = await artifacts.save("notes/plan.md", BINARY, metadata={"step": 2})
                await artifacts.save("scratch.bin", b"x")
                old = await artifacts.load("notes/plan.md", version=0)
                new = await artifacts.load("notes/plan.md")
                assert old is not None and new is not None
                reply = {
                    "saved": [first.version, second.version],
                    "old": old.data.decode(),
                    "old_type": old.info.mime_type,
                    "new_is_binary": new.data == BINARY,
                    "metadata": new.info.metadata,
                    "versions": [i.version for i in await artifacts.versions("notes/plan.md")],
                    "deleted": await artifacts.delete("scratch.bin"),
                    "deleted_again": await artifacts.delete("scratch.bin"),
                    "missing": await artifacts.load("scratch.bin"),
                    "listed": [i.name for i in await artifacts.list()],
                }
            elif command == "user":
                info = await artifacts.save("user:prefs.json", b"{}")
                reply = {"saved": info.name}
            else:
                found = await artifacts.load(arg)
                reply = {"read": found.data.hex() if found is not None else "none"}
        except HostAPIError as exc:
            reply = {"refused": exc.code, "message": exc.message}
        text = orjson.dumps(reply).decode()
        yield [MessageCompleted(message=Message.assistant(text)), RunCompleted()]


if __name__ == "__main__":
    if "--undeclared" in sys.argv:
        Files.manifest = Manifest(id="test:artifacts", name="files")
    if sys.argv[1:2] == ["--http"]:
        host, _, port = sys.argv[2].rpartition(":")
        serve_http(Files(), host, int(port))
    else:
        serve(Files())
