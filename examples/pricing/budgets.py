"""Prices, budgets and usage, from examples/pricing/agenthost.yaml: each run costs its
tokens plus a price per request; a session over its budget is refused (a clear error,
HTTP 402 on the server) and a new session goes on; the usage store has a record per run.

Offline: a fake OpenAI-compatible server (agenthost.testing) plays the model, unless
OPENAI_BASE_URL is set (then AGENTHOST_HOME and AGENTHOST_MODEL are used as they are).

    python examples/pricing/budgets.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from agenthost import BudgetExceeded, UsageQuery, build_runtimes, collect, load_config
from agenthost.testing import FakeOpenAIServer

CONFIG = Path(__file__).with_name("agenthost.yaml")


async def main() -> None:
    config = load_config(CONFIG)
    async with build_runtimes(config) as runtimes:
        support = runtimes["support"].runner
        for question in ("Where is order 42?", "And order 43?", "And 44?"):
            try:
                events = await collect(support.run("ann", "chat-1", question))
            except BudgetExceeded as exc:  # refused before anything was stored
                print(f"refused ({exc.code}): {exc.message}")
                break
            done = events[-1]
            print(f"{question} -> cost ${done.data['cost']:.4f}")  # type: ignore[index]
        await collect(support.run("ann", "chat-2", "A new session is fine."))
        await collect(runtimes["sales"].runner.run("bob", None, "Something for a cat?"))

        assert support.meter is not None and support.meter.usage is not None
        records = await support.meter.usage.records(UsageQuery(app_prefix="shop/"))
        for record in records:
            print(f"{record.agent:8} {record.user_id:4} {record.session_id:8} ${record.cost:.4f}")


if __name__ == "__main__":
    if "OPENAI_BASE_URL" in os.environ:  # a model (and AGENTHOST_HOME) given: use them
        asyncio.run(main())
    else:
        with FakeOpenAIServer.start_in_thread() as fake, tempfile.TemporaryDirectory() as home:
            os.environ.update(
                AGENTHOST_HOME=home,
                AGENTHOST_MODEL="openai:gpt-4o-mini",
                OPENAI_BASE_URL=fake.base_url,
                OPENAI_API_KEY="sk-test",
            )
            asyncio.run(main())
