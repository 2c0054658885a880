"""Sub-runs: how a composed agent runs one of its agents inside its own run.

A sub-agent gets
- a RunContext derived from the parent's: the same run id, resources, deadline, delivery and
  config; only `input` differs (the text it is asked to work on);
- a `SubHost`: the parent's host (so every call is still authorized against the run's grants
  and deadline) with its history capability replaced: `history.messages()` shows the
  conversation before this run followed by the sub-agent's own input, not its siblings'
  work in progress.

`stream_sub` drives a sub-agent and re-tags its results with its author and branch; its
terminal result is taken out (the composer decides how the run ends) and recorded in a
`SubOutcome`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from agenthost.core.errors import AgentHostError, HostAPIError
from agenthost.core.events import ErrorInfo, Event
from agenthost.core.messages import Message
from agenthost.core.usage import Usage
from agenthost.engine.history import HistoryView
from agenthost.ports.protocol import (
    Agent,
    HistoryAPI,
    HistoryPage,
    Host,
    HostAPI,
    InputSection,
    MessageCompleted,
    ResultBatch,
    RunContext,
    RunFailed,
    RunResult,
    is_terminal,
)

log = logging.getLogger("agenthost.composition")

_replace = msgspec.structs.replace


def input_message(ctx: RunContext) -> Message:
    """The run's input as a user message (parts included when the context carries them)."""
    return ctx.input.message or Message.user(ctx.input.text)


def derive_context(ctx: RunContext, message: Message) -> RunContext:
    """The parent's context with `message` as input: same run id, grants and deadline."""
    return _replace(ctx, input=InputSection(text=message.text, message=message))


async def prior_history(host: HostAPI) -> list[Message]:
    """The conversation before this run: the host's history without the run's own input
    (the user message the runner stored just before the agent started). Empty when the host
    does not give history (a plugin that did not declare it): sub-agents then see only their
    input."""
    try:
        history = await host.history.messages()
    except HostAPIError as exc:
        if exc.code != "unauthorized":
            raise
        return []
    if history and history[-1].role == "user":
        history.pop()
    return history


class SubOutcome:
    """How a sub-run ended: its final text, or its failure."""

    __slots__ = ("error", "extra_usage", "finish_reason", "name", "saw_usage", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = ""
        self.finish_reason = "stop"
        self.error: ErrorInfo | None = None
        self.saw_usage = False
        self.extra_usage: Usage | None = None  # reported only on run.completed, no message

    @property
    def failed(self) -> bool:
        return self.error is not None

    def fail_from(self, exc: BaseException) -> None:
        """Record an exception the sub-agent raised instead of yielding run.failed."""
        if isinstance(exc, AgentHostError):
            self.error = ErrorInfo(code=exc.code, message=exc.message, retryable=exc.retryable)
        else:
            self.error = ErrorInfo(code="runner.error", message=f"{type(exc).__name__}: {exc}")

    def failure(self, prefix: str = "") -> RunFailed:
        """A run.failed result for the composer, naming this sub-agent."""
        assert self.error is not None
        return RunFailed(
            error=f"{prefix}agent {self.name!r} failed: {self.error.message}",
            code=self.error.code,
            retryable=self.error.retryable,
        )


@asynccontextmanager
async def closing(results: AsyncIterator[ResultBatch]) -> AsyncIterator[AsyncIterator[ResultBatch]]:
    """Close an agent's result iterator on the way out (an async generator's `aclose`)."""
    try:
        yield results
    finally:
        close = getattr(results, "aclose", None)
        if close is not None:
            await close()


async def stream_sub(
    agent: Agent,
    ctx: RunContext,
    host: HostAPI,
    *,
    parent: str,
    outcome: SubOutcome,
) -> AsyncGenerator[ResultBatch, None]:
    """Run `agent` as a sub-run of composer `parent` and yield its results, each tagged with
    author (the sub-agent's name, unless set deeper down) and branch (`parent.` + the branch
    it had, or `parent.name`). Its run.completed / run.failed is not yielded: it fills
    `outcome` (a run.completed message becomes a message.completed), and so does an exception
    the sub-agent raises (cancellation propagates)."""
    name = agent.manifest.name
    own_branch = f"{parent}.{name}"
    try:
        async with closing(agent.run(ctx, host)) as results:
            async for item in results:
                batch: Sequence[RunResult] = item if isinstance(item, list) else (item,)
                out: list[RunResult] = []
                ended = False
                for result in batch:
                    if is_terminal(result):
                        final = _end(result, outcome)
                        if final is not None:
                            out.append(_tag(final, name, own_branch, parent))
                        ended = True
                        break
                    if type(result) is MessageCompleted:
                        _seen_message(result, outcome)
                    out.append(_tag(result, name, own_branch, parent))
                if out:
                    yield out if isinstance(item, list) or len(out) > 1 else out[0]
                if ended:
                    return
    except Exception as exc:
        if not isinstance(exc, AgentHostError):
            log.exception("sub-agent %s of %s failed in run %s", name, parent, ctx.run_id)
        outcome.fail_from(exc)


def _tag(result: RunResult, name: str, own_branch: str, parent: str) -> RunResult:
    branch = f"{parent}.{result.branch}" if result.branch else own_branch
    return _replace(result, author=result.author or name, branch=branch)


def _seen_message(result: Any, outcome: SubOutcome) -> None:
    if result.usage is not None:
        outcome.saw_usage = True
    text = result.message.text
    if text:
        outcome.text = text


def _end(result: Any, outcome: SubOutcome) -> MessageCompleted | None:
    if type(result) is RunFailed:
        outcome.error = ErrorInfo(
            code=result.code, message=result.error, retryable=result.retryable
        )
        return None
    outcome.finish_reason = result.finish_reason
    usage = result.usage if not outcome.saw_usage else None
    done: MessageCompleted | None = result.final(usage)
    if done is None:
        outcome.extra_usage = usage
        return None
    _seen_message(done, outcome)
    return done


def total_usage(outcomes: Sequence[SubOutcome]) -> Usage | None:
    """Usage the sub-agents reported only on run.completed (for the composer's own)."""
    found = [o.extra_usage for o in outcomes if o.extra_usage is not None]
    if not found:
        return None
    total = Usage()
    for usage in found:
        total = total + usage
    return total


class OwnHistory:
    """The parent's history capability, except that `messages()` is the sub-agent's own."""

    __slots__ = ("_messages", "_parent")

    def __init__(self, parent: HistoryAPI, messages: Sequence[Message]) -> None:
        self._parent = parent
        self._messages = list(messages)

    async def messages(self) -> list[Message]:
        return list(self._messages)

    async def view(self) -> HistoryView:
        """The sub-agent's messages with the seqs of the stored ones, for compaction
        (engine/compaction.py): the session's current view up to the last message the two
        share (a summary a sibling stored since counts), then the sub-agent's own messages
        (seq 0: not stored). Without a parent view, every message is unstored."""
        view_of = getattr(self._parent, "view", None)
        own = list(self._messages)
        if view_of is None:
            return HistoryView(own, [0] * len(own), None)
        parent: HistoryView = await view_of()
        at = {id(m): i for i, m in enumerate(parent.messages)}
        shared = max((k for k, m in enumerate(own) if id(m) in at), default=-1)
        if shared < 0:
            return HistoryView(own, [0] * len(own), None)
        end = at[id(own[shared])] + 1
        rest = own[shared + 1 :]
        return HistoryView(
            [*parent.messages[:end], *rest], [*parent.seqs[:end], *[0] * len(rest)], parent.summary
        )

    async def page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage:
        return await self._parent.page(before=before, limit=limit)

    async def search(self, query: str, *, limit: int = 20) -> list[Event]:
        return await self._parent.search(query, limit=limit)

    async def event(self, event_id: str) -> Event:
        return await self._parent.event(event_id)

    async def events(self, *, after: int = 0, limit: int = 50) -> HistoryPage:
        return await self._parent.events(after=after, limit=limit)


def SubHost(parent: HostAPI, history: Sequence[Message]) -> Host:
    """The parent's host (same run, same grants, same gate) with the sub-agent's own view of
    the history."""
    return Host.of(parent, history=OwnHistory(parent.history, history))
