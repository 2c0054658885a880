"""The config file's Python twin: an AgentHostConfig built in code, run with build_runtime.

Everything agenthost.yaml can say, these objects can say (and `load_config("agenthost.yaml")`
gives the same objects). Runs on the embedded model with no key; set AGENTHOST_MODEL
(e.g. openai:gpt-4o-mini) to use another one.
"""

import asyncio
import os

from agenthost import (
    AgentConfig,
    AgentHostConfig,
    ModelConfig,
    RunnerConfig,
    StoreConfig,
    build_runtime,
)

config = AgentHostConfig(
    app="example",
    store=StoreConfig(url="sqlite:///config_in_code.db"),
    models={"main": ModelConfig(model=os.environ.get("AGENTHOST_MODEL", "local:smollm2"))},
    agents={
        "assistant": AgentConfig(
            model="main",
            instructions="You are a helpful assistant. Use the tools when they help.",
            tools=["demo:get_weather", "demo:calculator"],
            max_tool_rounds=3,
        )
    },
    runner=RunnerConfig(busy_policy="queue", timeout=120),
)


async def main() -> None:
    async with build_runtime(config, agent="assistant") as rt:
        print(f"[agent {rt.agent_name} on {rt.model_id}]")
        async for event in rt.runner.run("alice", "chat-1", "What is the weather in Paris?"):
            if event.type == "message.delta":
                print(event.text, end="", flush=True)
            elif event.type == "tool.call.completed":
                print(f"[tool result: {event.text}]")
            elif event.type == "run.completed":
                print(f"\n[done: {event.usage.total_tokens} tokens]")


if __name__ == "__main__":
    asyncio.run(main())
