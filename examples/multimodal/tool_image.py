"""A tool that returns an image, and what the model is sent after it.

The tool's text goes back as the `tool` message; its image follows in a `user` message with an
`image_url` part (OpenAI's Chat Completions API takes no images in `tool` messages). The runner
also saves the image as an artifact of the session, and the tool's text names it. The model
here is the fake OpenAI-compatible server of agenthost.testing, so the example shows the very
request a real provider would get. Run by tests/integration/test_tool_images_over_http.py.
"""

import asyncio

from agenthost import (
    ImagePart,
    LLMAgent,
    MemoryArtifactStore,
    ProviderSettings,
    Runner,
    ToolOutput,
    collect,
    final_text,
    infer_model,
    open_session_store,
)
from agenthost.testing import FakeOpenAIServer, TextReply, ToolCall, ToolCallsReply

PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)  # a real tool would take a picture


async def snapshot() -> ToolOutput:
    """Take a picture of the dashboard."""
    return ToolOutput(
        content=f"[image: image/png, {len(PNG)} bytes] the dashboard",
        parts=(ImagePart(data=PNG, mime_type="image/png"),),
    )


async def main() -> None:
    async with FakeOpenAIServer() as server:
        server.add(
            ToolCallsReply(calls=(ToolCall("snapshot", id="call_1"),)), TextReply("All green.")
        )
        providers = {"fake": ProviderSettings(base_url=server.base_url, api_key="sk-test")}
        model = infer_model("fake:gpt-4o-mini", providers=providers)
        agent = LLMAgent(model=model, tools=[snapshot], max_tool_images=4)
        async with (
            model,
            open_session_store("memory://") as store,
            Runner(agent, store=store, artifacts=MemoryArtifactStore()) as runner,
        ):
            events = await collect(runner.run("ann", "s1", "how does the dashboard look?"))
        print("answer:", final_text(events))
        for message in server.bodies[1]["messages"][-2:]:  # the request after the tool ran
            content = message["content"]
            if isinstance(content, list):
                content = [part.get("text") or part["image_url"]["url"][:30] for part in content]
            print(message["role"], "->", content)


if __name__ == "__main__":
    asyncio.run(main())
