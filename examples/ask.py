"""One call: a message to its final text, on the embedded model or on your own server.

python examples/ask.py                          # the embedded model, no key
OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/ask.py MODEL   # your server
"""

import asyncio
import os
import sys

from agenthost import LLMAgent, OpenAICompatibleModel, ask


async def main() -> None:
    model: str | OpenAICompatibleModel = os.environ.get("AGENTHOST_MODEL", "local:smollm2")
    if len(sys.argv) > 1:  # a model on your own OpenAI-compatible server (vLLM, Ollama...)
        model = OpenAICompatibleModel(sys.argv[1], base_url=os.environ["OPENAI_BASE_URL"])
    agent = LLMAgent(model=model, instructions="Answer in one short sentence.")
    print(await ask(agent, "What is the capital of France?"))


if __name__ == "__main__":
    asyncio.run(main())
