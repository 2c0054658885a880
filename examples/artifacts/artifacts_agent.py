"""Artifacts: versioned files per session. Run: python examples/artifacts/artifacts_agent.py

An agent saves a file through `host.artifacts`, a tool's long output is kept whole as an
artifact (the model reads the start and a reference), and a user's image is saved under
uploads/. No network: the model is scripted.
"""

import asyncio
from collections.abc import AsyncIterator

from agenthost import (
    HostAPI,
    ImagePart,
    LLMAgent,
    Manifest,
    Message,
    RunCompleted,
    RunContext,
    Runner,
    TextPart,
    collect,
    open_artifact_store,
    open_session_store,
)
from agenthost.testing import ScriptedModel, tool_call


class NoteTaker:
    """An agent that keeps every message it gets as a new version of notes.txt."""

    manifest = Manifest(id="example/notes", name="notes")

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[RunCompleted]:
        assert host.artifacts is not None
        info = await host.artifacts.save(
            "notes.txt", ctx.input.text.encode(), mime_type="text/plain"
        )
        print(f"saved {info.name} version {info.version}")
        yield RunCompleted(message=Message.assistant(f"noted ({info.ref})"))


def server_log() -> str:
    """The server's log: far too long to hand to a model whole."""
    return "".join(f"line {n}: all good\n" for n in range(5000))


async def main() -> None:
    async with (
        open_session_store("memory://") as store,
        open_artifact_store("file://./artifacts") as artifacts,  # or sqlite:///agenthost.db
    ):
        notes = Runner(NoteTaker(), store=store, app="notes", artifacts=artifacts)
        for text in ("buy milk", "buy milk and eggs"):
            await collect(notes.run("ann", "s1", text))
        old = await artifacts.load(
            app="notes", user_id="ann", session_id="s1", name="notes.txt", version=0
        )
        print("version 0 was:", old.data.decode() if old else None)

        model = ScriptedModel([tool_call("server_log"), "The log says all good."])
        agent = LLMAgent(model=model, tools=[server_log])
        runner = Runner(agent, store=store, app="ops", artifacts=artifacts)
        png = b"\x89PNG\r\n\x1a\n" + bytes(16)
        message = Message(role="user", parts=(TextPart(text="check the log"), ImagePart(data=png)))
        events = await collect(runner.run("ann", "s2", message))
        result = next(e for e in events if e.type == "tool.call.completed")
        print("the model read:", result.message.parts[0].content[-110:].strip())  # type: ignore[union-attr]
        for info in await artifacts.list(app="ops", user_id="ann", session_id="s2"):
            print(f"artifact {info.name} v{info.version} {info.mime_type} {info.size} bytes")


if __name__ == "__main__":
    asyncio.run(main())
