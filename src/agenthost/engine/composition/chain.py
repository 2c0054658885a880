"""ChainAgent: agents in sequence, each one's answer the next one's input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from agenthost.core.messages import Message
from agenthost.engine.composition._base import ComposedAgent
from agenthost.engine.composition._sub import (
    SubHost,
    SubOutcome,
    derive_context,
    input_message,
    prior_history,
    stream_sub,
    total_usage,
)
from agenthost.ports.protocol import HostAPI, ResultBatch, RunCompleted, RunContext


class ChainAgent(ComposedAgent):
    """Run `agents` one after the other on one message.

    The first agent gets the run's input; each next agent gets the previous one's final
    message text as its input (and, as history, the conversation before this run followed by
    that input). Every sub-agent's events flow through with its name as author and
    `"<chain>.<agent>"` as branch. The chain's answer is the last agent's. The first agent
    that fails ends the run with its error code (later agents do not run).
    """

    kind: ClassVar[str] = "chain"

    def __init__(
        self, agents: Sequence[Any], *, name: str = "chain", description: str = ""
    ) -> None:
        super().__init__(
            agents, name=name, description=description or "Agents in sequence, output to input."
        )

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        prior = await prior_history(host)
        message: Message = input_message(ctx)
        outcomes: list[SubOutcome] = []
        for agent in self.sub_agents:
            outcome = SubOutcome(agent.manifest.name)
            outcomes.append(outcome)
            sub_host = SubHost(host, [*prior, message])
            async for batch in stream_sub(
                agent, derive_context(ctx, message), sub_host, parent=self.name, outcome=outcome
            ):
                yield batch
            if outcome.failed:
                yield outcome.failure()
                return
            message = Message.user(outcome.text)
        yield RunCompleted(finish_reason=outcomes[-1].finish_reason, usage=total_usage(outcomes))
