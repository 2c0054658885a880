"""The whole program of an autonomous agent: a schedule wakes it, its replies go to stdout.

Run it with a model (`AGENTHOST_MODEL`, or `OPENAI_API_KEY`); Ctrl-C stops it gracefully.
"""

import asyncio
import os

from agenthost import ChannelRuntime, CronInput, LLMAgent, StdoutOutput

agent = LLMAgent(model=os.environ.get("AGENTHOST_MODEL", "openai:gpt-4o-mini"))
cron = CronInput(schedule="*/2 * * * * *", prompt="Say hello to the world.")
runtime = ChannelRuntime(inputs=[cron], outputs=[StdoutOutput()], agent=agent)
asyncio.run(runtime.run())
