"""ParallelAgent: the same input to several agents at once, their answers combined."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from agenthost.core.errors import ConfigError
from agenthost.core.events import ErrorInfo
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
from agenthost.engine.fanout import FanOut
from agenthost.ports.protocol import (
    Agent,
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunFailed,
    RunResult,
)


@dataclass(frozen=True, slots=True)
class BranchResult:
    """One branch's answer, or its error."""

    name: str
    text: str
    error: ErrorInfo | None = None


def combine_sections(results: Sequence[BranchResult]) -> str:
    """The default combiner: one `## name` section per branch, in the order given."""
    sections = []
    for result in results:
        if result.error is None:
            body = result.text
        else:
            body = f"[failed: {result.error.code}: {result.error.message}]"
        sections.append(f"## {result.name}\n{body}")
    return "\n\n".join(sections)


_DONE: Any = object()


class ParallelAgent(ComposedAgent):
    """Run `agents` concurrently on the run's input (one TaskGroup), then answer with one
    message combining their answers (`combine`, by default a `## name` section each, in the
    order the agents were given).

    Events: every branch's events flow through as they happen with `branch` =
    `"<parallel>.<agent>"`. Streaming deltas are passed on at once; a branch's stored events
    are kept together (the first branch to store something goes first, the others' stored
    events follow branch by branch), so the session history never interleaves one branch's
    tool call with another's answer.

    A failing branch does not stop the others. When every branch fails, the run fails with
    the first failure's code; when some fail, the run completes with `finish_reason`
    "partial" and the combined message notes each failure, unless `require_all=True`, which
    fails the run (code `parallel.branch_failed`) after all branches have finished.
    Cancellation and the run's deadline cancel every branch.
    """

    kind: ClassVar[str] = "parallel"

    def __init__(
        self,
        agents: Sequence[Any],
        *,
        name: str = "parallel",
        description: str = "",
        combine: Callable[[Sequence[BranchResult]], str] = combine_sections,
        require_all: bool = False,
    ) -> None:
        super().__init__(
            agents, name=name, description=description or "Agents in parallel, answers combined."
        )
        names = [a.manifest.name for a in self.sub_agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(
                f"ParallelAgent {name!r} has several agents named {duplicates}: each branch "
                f"is named after its agent, so give them distinct names."
            )
        self.combine = combine
        self.require_all = require_all

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        prior = await prior_history(host)
        message = input_message(ctx)
        sub_ctx = derive_context(ctx, message)
        outcomes = [SubOutcome(a.manifest.name) for a in self.sub_agents]
        queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        order = _Floor(len(self.sub_agents))
        async with FanOut() as fan:
            for index, agent in enumerate(self.sub_agents):
                branch = self._branch(
                    index, agent, sub_ctx, SubHost(host, [*prior, message]), outcomes, queue
                )
                fan.start(branch, name=f"{self.name}.{agent.manifest.name}")
            while not order.all_done:
                index, item = await queue.get()
                for batch in order.feed(index, item):
                    yield batch
        yield self._final(outcomes)

    async def _branch(
        self,
        index: int,
        agent: Agent,
        ctx: RunContext,
        host: HostAPI,
        outcomes: list[SubOutcome],
        queue: asyncio.Queue[tuple[int, Any]],
    ) -> None:
        async for batch in stream_sub(agent, ctx, host, parent=self.name, outcome=outcomes[index]):
            queue.put_nowait((index, batch))
        queue.put_nowait((index, _DONE))

    def _final(self, outcomes: list[SubOutcome]) -> ResultBatch:
        failed = [o for o in outcomes if o.failed]
        if len(failed) == len(outcomes):
            first = failed[0]
            assert first.error is not None
            return RunFailed(
                error=f"every branch failed; first, {first.name!r}: {first.error.message}",
                code=first.error.code,
                retryable=first.error.retryable,
            )
        if failed and self.require_all:
            return RunFailed(
                error="branches failed: "
                + "; ".join(f"{o.name!r}: {o.error.message}" for o in failed if o.error),
                code="parallel.branch_failed",
                retryable=all(o.error.retryable for o in failed if o.error),
            )
        text = self.combine(
            [BranchResult(name=o.name, text=o.text, error=o.error) for o in outcomes]
        )
        return [
            MessageCompleted(message=Message.assistant(text)),
            RunCompleted(
                finish_reason="partial" if failed else "stop", usage=total_usage(outcomes)
            ),
        ]


class _Floor:
    """Which branch may store events now: deltas pass at once; stored results of the branch
    holding the floor pass, other branches' wait and follow when the floor is free."""

    def __init__(self, n: int) -> None:
        self.holder: int | None = None
        self.waiting: dict[int, list[list[RunResult]]] = {}
        self.done: set[int] = set()
        self.n = n

    @property
    def all_done(self) -> bool:
        return len(self.done) == self.n

    def feed(self, index: int, item: Any) -> list[ResultBatch]:
        out: list[ResultBatch] = []
        if item is _DONE:
            self.done.add(index)
            if self.holder in (index, None):
                self.holder = None
                self._pass_floor(out)
            return out
        batch: list[RunResult] = item if isinstance(item, list) else [item]
        deltas: list[RunResult] = [r for r in batch if type(r) is MessageDelta]
        stored = [r for r in batch if type(r) is not MessageDelta] if deltas else batch
        if deltas:
            out.append(deltas if len(deltas) > 1 else deltas[0])
        if stored:
            if self.holder is None:
                self.holder = index
            if self.holder == index:
                out.append(stored)
            else:
                self.waiting.setdefault(index, []).append(stored)
        return out

    def _pass_floor(self, out: list[ResultBatch]) -> None:
        """Flush waiting branches in order until one that is still running takes the floor."""
        while self.waiting:
            index = next(iter(self.waiting))
            out.extend(self.waiting.pop(index))
            if index not in self.done:
                self.holder = index
                return
