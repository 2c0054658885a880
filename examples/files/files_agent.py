"""The file tools in a run: the agent of agenthost.yaml writes a file and reads it back.

Offline: a fake OpenAI-compatible server (agenthost.testing) plays the model and asks for the
two tool calls; the tools really run, in $AGENTHOST_HOME/workdirs/<app>/<user>/<session>/.

    AGENTHOST_HOME=/tmp/demo python files_agent.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agenthost import build_runtime, load_config
from agenthost.testing import FakeOpenAIServer, TextReply, ToolCall, ToolCallsReply

PLAN = "# Plan\n- pack the tent\n"


async def main() -> None:
    script = [
        ToolCallsReply((ToolCall("write_file", {"path": "plan.md", "content": PLAN}),)),
        ToolCallsReply((ToolCall("read_file", {"path": "plan.md"}),)),
        TextReply("Done: the plan is saved."),
    ]
    async with FakeOpenAIServer(script) as fake:
        os.environ.update(
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-fake", AGENTHOST_MODEL="openai:m"
        )
        config = load_config(Path(__file__).with_name("agenthost.yaml"))
        async with build_runtime(config) as runtime:
            async for event in runtime.runner.run("ann", "trip", "Save my plan."):
                if event.type == "tool.call.completed":
                    result = event.message.parts[0]  # type: ignore[union-attr]
                    print(f"[{result.name}] {result.content}")  # type: ignore[union-attr]
                elif event.type == "message.completed" and event.message.text:  # type: ignore[union-attr]
                    print(event.message.text)  # type: ignore[union-attr]


if __name__ == "__main__":
    asyncio.run(main())
