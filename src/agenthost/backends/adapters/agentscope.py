"""AgentScopeAgent: an AgentScope 2.x `Agent` hosted as an agenthost agent (extra `agentscope`).

History: an AgentScope agent keeps its context in `agent.state.context`. Before each run the
adapter replaces that context with the session's messages before this run, as AgentScope
`Msg`s (user text; the agent's text and `ToolCallBlock`s, followed by the `ToolResultBlock`s of
the results, in one assistant message as AgentScope stores them), and resets the reply
context; the run's user message is the reply's input. Runs of one adapter take turns (a lock),
since the agent object holds that state. Nothing is kept in session state.

The run goes through `agent.reply_stream()`:

    TextBlockDeltaEvent                         MessageDelta
    ModelCallStartEvent .. ModelCallEndEvent    MessageCompleted (the text and tool calls of
                                                 that model call, its tokens, the model name),
                                                 then ToolCallStarted for each tool call
    ToolResult{Start,TextDelta,End}Event        ToolCallCompleted (error unless its state is
                                                 "success")
    ReplyEndEvent with an error                 RunFailed (a model's HTTP error is raised
                                                 by AgentScope: adapter.model_error)
    RequireUserConfirmEvent /                   RunFailed (adapter.error): give the agent a
    RequireExternalExecutionEvent                permission mode or rules that allow its tools
    end of the stream                           RunCompleted

The run's host tools (`knowledge`, `memory`, `artifacts`: see AdapterAgent) are added to the
agent's toolkit as `FunctionTool`s for the run and removed after it (runs take turns).

Cancelling the run cancels the pending await inside `reply_stream`, which cancels the HTTP
request to the model; AgentScope catches the cancellation and ends the reply as interrupted,
and the adapter raises it again so the run ends as cancelled (or past its deadline).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Unpack, cast

from agenthost.backends.adapters._common import (
    ADAPTER_ERROR,
    AdapterAgent,
    ResourceOptions,
    assistant,
    json_text,
    missing,
    split_history,
    usage,
)
from agenthost.backends.adapters._host_tools import RunTools
from agenthost.core.messages import Message, ToolCallPart, ToolResultPart
from agenthost.ports.protocol import (
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    RunFailed,
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
)

try:
    from agentscope import event as ev
    from agentscope.agent import Agent
    from agentscope.message import (
        Msg,
        TextBlock,
        ToolCallBlock,
        ToolCallState,
        ToolResultBlock,
        ToolResultState,
    )
    from agentscope.state import ReplyContext
    from agentscope.tool import FunctionTool, ToolBase
    from agentscope.types import ReplyFinishedReason
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("The AgentScope adapter", "agentscope", exc) from exc


class AgentScopeAgent(AdapterAgent):
    """`agent` (an `agentscope.agent.Agent`) as an agent. Its tools must be allowed to run
    without asking (e.g. `PermissionMode.BYPASS` or allow rules): a run that would wait for the
    user's confirmation fails. `knowledge`, `memory` and `artifacts` give it host tools (see
    AdapterAgent)."""

    kind: ClassVar[str] = "agentscope"
    framework: ClassVar[str] = "AgentScope"

    def __init__(
        self,
        agent: Agent,
        *,
        name: str | None = None,
        description: str = "",
        **resources: Unpack[ResourceOptions],
    ) -> None:
        super().__init__(
            name=name or agent.name or "agentscope",
            description=description,
            **resources,
        )
        self.agent = agent
        self._lock = asyncio.Lock()

    async def _turn(
        self, ctx: RunContext, host: HostAPI, tools: RunTools
    ) -> AsyncGenerator[ResultBatch, None]:
        prior, current = split_history(await host.history.messages())
        text = current.text if current is not None else ctx.input.text
        async with self._lock:
            functions = tools.functions()
            if functions:
                # a tool may return plain text (AgentScope wraps it in a ToolChunk)
                made: list[ToolBase] = [FunctionTool(cast(Any, f)) for f in functions]
                await self.agent.toolkit.add_tool(made)
            try:
                async with aclosing(self._reply(prior, text)) as replies:
                    async for results in replies:
                        yield results
            finally:
                if functions:
                    await self.agent.toolkit.remove_tool([f.__name__ for f in functions])

    async def _reply(self, prior: list[Message], text: str) -> AsyncGenerator[ResultBatch, None]:
        state = self.agent.state
        state.context = to_agentscope(prior, agent_name=self.agent.name)
        state.reply_context = ReplyContext()
        turn = _Turn()
        stream = self.agent.reply_stream(
            Msg(name="user", role="user", content=[TextBlock(text=text)])
        )
        async with aclosing(stream):
            async for event in stream:
                if _interrupted(event) and _cancelling():
                    # AgentScope swallows the cancellation and ends the reply as
                    # interrupted: hand it back to the runner
                    raise asyncio.CancelledError
                results = turn.results(event)
                if results:
                    yield results
                    if isinstance(results[-1], RunFailed):
                        return
        yield RunCompleted()


def _interrupted(event: Any) -> bool:
    return (
        isinstance(event, ev.ReplyEndEvent)
        and event.finished_reason == ReplyFinishedReason.INTERRUPTED
    )


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass
class _Call:
    name: str
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Turn:
    """What the events of the current model call and tool results have said so far."""

    model: str | None = None
    text: list[str] = field(default_factory=list)
    calls: dict[str, _Call] = field(default_factory=dict)
    outputs: dict[str, _Call] = field(default_factory=dict)

    def results(self, event: Any) -> list[RunResult]:
        if isinstance(event, ev.TextBlockDeltaEvent):
            self.text.append(event.delta)
            return [MessageDelta(text=event.delta)] if event.delta else []
        if isinstance(event, ev.ModelCallStartEvent):
            self.model, self.text, self.calls = event.model_name, [], {}
        elif isinstance(event, ev.ToolCallStartEvent):
            self.calls[event.tool_call_id] = _Call(event.tool_call_name)
        elif isinstance(event, ev.ToolCallDeltaEvent) and event.tool_call_id in self.calls:
            self.calls[event.tool_call_id].arguments.append(event.delta)
        elif isinstance(event, ev.ModelCallEndEvent):
            return self._completed(event)
        elif isinstance(event, ev.ToolResultStartEvent):
            self.outputs[event.tool_call_id] = _Call(event.tool_call_name)
        elif isinstance(event, ev.ToolResultTextDeltaEvent) and event.tool_call_id in self.outputs:
            self.outputs[event.tool_call_id].arguments.append(event.delta)
        elif isinstance(event, ev.ToolResultEndEvent):
            output = self.outputs.pop(event.tool_call_id, _Call(""))
            result = "".join(output.arguments)
            failed = event.state != ToolResultState.SUCCESS
            return [
                ToolCallCompleted(
                    tool_call_id=event.tool_call_id,
                    tool_name=output.name,
                    result=result,
                    error=(result or str(event.state)) if failed else None,
                )
            ]
        elif isinstance(event, ev.ReplyEndEvent) and event.error is not None:
            return [RunFailed(error=str(event.error), code=ADAPTER_ERROR)]
        elif isinstance(event, ev.RequireUserConfirmEvent | ev.RequireExternalExecutionEvent):
            names = ", ".join(c.name for c in event.tool_calls)
            return [
                RunFailed(
                    error=f"AgentScope waits for the user to confirm or run tools: {names}",
                    code=ADAPTER_ERROR,
                )
            ]
        return []

    def _completed(self, event: Any) -> list[RunResult]:
        calls = [
            ToolCallPart(id=id_, name=c.name, arguments=json_text("".join(c.arguments)))
            for id_, c in self.calls.items()
        ]
        text = "".join(self.text)
        self.text, self.calls = [], {}
        if not text and not calls:
            return []
        out: list[RunResult] = [
            MessageCompleted(
                message=assistant(text, calls),
                usage=usage(event.input_tokens, event.output_tokens),
                model=self.model,
            )
        ]
        out.extend(
            ToolCallStarted(tool_call_id=c.id, tool_name=c.name, parameters=c.arguments)
            for c in calls
        )
        return out


def to_agentscope(history: Sequence[Message], *, agent_name: str) -> list[Msg]:
    """Our messages as AgentScope `Msg`s (text, tool calls and tool results; images and files
    are left out). Tool results go into the assistant message that holds their calls."""
    out: list[Msg] = []
    for message in history:
        if message.role == "assistant":
            blocks: list[Any] = [TextBlock(text=message.text)] if message.text else []
            blocks.extend(
                ToolCallBlock(id=c.id, name=c.name, input=c.arguments, state=ToolCallState.FINISHED)
                for c in message.tool_calls
            )
            if blocks:
                out.append(Msg(name=agent_name, role="assistant", content=blocks))
        elif message.role == "tool":
            results = [
                ToolResultBlock(
                    id=p.tool_call_id,
                    name=p.name,
                    output=[TextBlock(text=p.content)],
                    state=ToolResultState.ERROR if p.is_error else ToolResultState.SUCCESS,
                )
                for p in message.parts
                if isinstance(p, ToolResultPart)
            ]
            last = out[-1] if out else None
            if last is not None and last.role == "assistant":
                last.content = [*last.content, *results]
            elif results:
                out.append(Msg(name=agent_name, role="assistant", content=[*results]))
        elif message.text and message.role == "system":
            out.append(Msg(name="system", role="system", content=[TextBlock(text=message.text)]))
        elif message.text:
            out.append(Msg(name="user", role="user", content=[TextBlock(text=message.text)]))
    return out
