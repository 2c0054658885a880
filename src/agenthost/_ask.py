"""`agenthost.ask(agent, message)`: one message to its final text, with nothing to set up.

    import asyncio
    from agenthost import ask

    print(asyncio.run(ask("local:smollm2", "Say hello in French.")))

It opens an in-memory session store and a Runner for the one run, and closes them after.
For a conversation (several messages in one session) or stored sessions, use a Runner and
`Runner.ask(user_id, session_id, message)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from agenthost.core.messages import Message
    from agenthost.ports.models import ChatModel
    from agenthost.ports.protocol import Agent


async def ask(
    agent: Agent | ChatModel | str,
    message: str | Message,
    *,
    user_id: str = "user",
    **run_kwargs: Any,
) -> str:
    """Run `agent` on `message` and return the reply's text.

    `agent` is an agent (LLMAgent, a composition, a platform agent...), or a chat model or a
    'provider:model' id, which is wrapped in a plain LLMAgent. `run_kwargs` are those of
    `Runner.run` (timeout, state_delta, ...). Raises `RunFailedError` (with the run's error
    code) when the run fails.
    """
    from agenthost.backends.sessions import open_session_store
    from agenthost.engine.llm_agent import LLMAgent
    from agenthost.engine.runner import Runner

    runnable: Agent = (
        LLMAgent(model=agent)
        if isinstance(agent, str) or not hasattr(agent, "manifest")
        else cast("Agent", agent)
    )
    async with (
        open_session_store("memory://") as store,
        Runner(runnable, store=store) as runner,
    ):
        return await runner.ask(user_id, None, message, **run_kwargs)
