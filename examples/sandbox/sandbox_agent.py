"""The demo agent of agenthost.yaml with MCP time tools and run_code, in one run.

Offline: a fake OpenAI-compatible server (agenthost.testing) plays the model. It asks for the
time (the MCP server mcp-server-time answers), runs Python in the sandbox, which writes a
file in the session's work directory, and reads that file back with read_file.

    AGENTHOST_HOME=/tmp/demo python sandbox_agent.py
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agenthost import build_runtime, load_config
from agenthost.testing import FakeOpenAIServer, TextReply, ToolCall, ToolCallsReply

CODE = """
import statistics
temps = [21.5, 23.0, 19.8, 24.1]
open('summary.txt', 'w').write(f'mean {statistics.mean(temps):.1f}')
print('max', max(temps))
"""


async def main() -> None:
    script = [
        ToolCallsReply((ToolCall("time__get_current_time", {"timezone": "Europe/Paris"}),)),
        ToolCallsReply((ToolCall("run_code", {"language": "python", "code": CODE}),)),
        ToolCallsReply((ToolCall("read_file", {"path": "summary.txt"}),)),
        TextReply("Done: the summary is in summary.txt."),
    ]
    async with FakeOpenAIServer(script) as fake:
        os.environ.update(
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-fake", AGENTHOST_MODEL="openai:m"
        )
        config = load_config(Path(__file__).with_name("agenthost.yaml"))
        async with build_runtime(config) as runtime:
            async for event in runtime.runner.run("ann", "weather", "Summarise the week."):
                if event.type == "tool.call.completed":
                    result = event.message.parts[0]  # type: ignore[union-attr]
                    print(f"[{result.name}] {result.content}")  # type: ignore[union-attr]
                elif event.type == "message.completed" and event.message.text:  # type: ignore[union-attr]
                    print(event.message.text)  # type: ignore[union-attr]


if __name__ == "__main__":
    asyncio.run(main())
