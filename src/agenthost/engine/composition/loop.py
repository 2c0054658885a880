"""LoopAgent: one agent again and again, until a condition holds or the iterations run out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

from agenthost.core.errors import ConfigError
from agenthost.core.messages import Message
from agenthost.core.state import Scope, split_key
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
from agenthost.ports.protocol import (
    HostAPI,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunResult,
    StateUpdated,
)

Until = Callable[[str], bool] | str


class LoopAgent(ComposedAgent):
    """Run `agent` up to `max_iterations` times; each iteration's input is the previous
    iteration's answer (the first gets the run's input).

    `until` stops the loop early: a function of the iteration's answer text (`lambda text:
    "APPROVED" in text`), or a state key (`"done"`, `"temp:done"`, `"user:done"`) whose value
    is truthy once the iteration has ended (set with `host.state.set` or a `state.updated`
    result). The loop's answer is the last iteration's; `finish_reason` is "stop" when
    `until` held (or there is none) and "max_iterations" when it never did. A failing
    iteration ends the run with its error code.
    """

    kind: ClassVar[str] = "loop"

    def __init__(
        self,
        agent: Any,
        *,
        max_iterations: int,
        until: Until | None = None,
        name: str = "loop",
        description: str = "",
    ) -> None:
        if max_iterations < 1:
            raise ConfigError(f"LoopAgent needs max_iterations >= 1, got {max_iterations}.")
        if not (until is None or isinstance(until, str) or callable(until)):
            raise ConfigError(
                f"LoopAgent until= must be a function of the answer text or a state key, "
                f"got {until!r}."
            )
        super().__init__(
            [agent], name=name, description=description or "One agent, repeated until done."
        )
        self.agent = self.sub_agents[0]
        self.max_iterations = max_iterations
        self.until = until
        self._state_key: tuple[Scope, str] | None = (
            split_key(until) if isinstance(until, str) else None
        )

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        prior = await prior_history(host)
        message: Message = input_message(ctx)
        outcomes: list[SubOutcome] = []
        finish = "max_iterations" if self.until is not None else "stop"
        for _ in range(self.max_iterations):
            outcome = SubOutcome(self.agent.manifest.name)
            outcomes.append(outcome)
            flag: list[Any] = []
            async for batch in stream_sub(
                self.agent,
                derive_context(ctx, message),
                SubHost(host, [*prior, message]),
                parent=self.name,
                outcome=outcome,
            ):
                self._watch(batch, flag)
                yield batch
            if outcome.failed:
                yield outcome.failure()
                return
            if await self._done(outcome.text, flag, host):
                finish = "stop"
                break
            message = Message.user(outcome.text)
        yield RunCompleted(finish_reason=finish, usage=total_usage(outcomes))

    def _watch(self, batch: ResultBatch, flag: list[Any]) -> None:
        """Remember the last value the iteration's results set for the `until` state key."""
        if self._state_key is None:
            return
        results: Sequence[RunResult] = batch if isinstance(batch, list) else (batch,)
        for result in results:
            if type(result) is StateUpdated and (result.scope, result.key) == self._state_key:
                flag[:] = [result.value]

    async def _done(self, text: str, flag: list[Any], host: HostAPI) -> bool:
        if self.until is None:
            return False
        if self._state_key is None:
            assert callable(self.until)
            return bool(self.until(text))
        if flag:
            return bool(flag[0])
        scope, key = self._state_key
        return bool(await host.state.get(scope, key))
