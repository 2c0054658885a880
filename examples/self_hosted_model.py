"""An agent on your own OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...), in code.

Set SELF_HOSTED_URL to the server's base URL (default http://127.0.0.1:8000/v1).
"""

import asyncio
import os

from agenthost import LLMAgent, OpenAICompatibleModel, Runner, open_session_store

URL = os.environ.get("SELF_HOSTED_URL", "http://127.0.0.1:8000/v1")


async def main() -> None:
    model = OpenAICompatibleModel("qwen2.5", base_url=URL)  # api_key="..." if it wants one
    async with (
        model,
        open_session_store("memory://") as store,
        Runner(LLMAgent(model=model), store=store) as runner,
    ):
        async for event in runner.run("alice", "chat-1", "Hello!"):
            if event.type == "run.completed":
                print(f"[done: {event.usage.total_tokens} tokens]")
            elif event.type == "message.completed":
                print(event.text)


if __name__ == "__main__":
    asyncio.run(main())
