"""OpenAIAgentsAgent: an OpenAI Agents SDK `Agent` hosted as an agenthost agent (extra
`openai-agents`).

History: the session's messages are converted to the SDK's input items (user, system and
assistant messages, `function_call` and `function_call_output` items) and passed as the run's
`input`, which ends with this run's user message. Nothing is kept in session state; no SDK
`Session` is used.

The run goes through `Runner.run_streamed()`:

    raw response: response.output_text.delta     MessageDelta
    raw response: response.completed             MessageCompleted (text, function calls,
                                                  usage, model name)
    run item: tool_called (a function call)      ToolCallStarted
    run item: tool_output                        ToolCallCompleted
    end of the stream                            RunCompleted

The run's host tools (`knowledge`, `memory`, `artifacts`: see AdapterAgent) are added to the
agent's own tools for that run, as `function_tool`s of a clone of the agent.

Cancelling the run cancels the SDK's run task (`RunResultStreaming.cancel()`), which cancels the
HTTP request to the model.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Unpack

from agenthost.backends.adapters._common import (
    AdapterAgent,
    ResourceOptions,
    assistant,
    json_text,
    missing,
    plain_text,
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
    RunResult,
    ToolCallCompleted,
    ToolCallStarted,
)

try:
    import agents
    from agents.items import ToolCallItem, ToolCallOutputItem
    from agents.stream_events import RawResponsesStreamEvent, RunItemStreamEvent
    from openai.types.responses import (
        ResponseCompletedEvent,
        ResponseFunctionToolCall,
        ResponseTextDeltaEvent,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("The OpenAI Agents SDK adapter", "openai-agents", exc) from exc


class OpenAIAgentsAgent(AdapterAgent):
    """`agent` (an `agents.Agent`) as an agent; `context`, `max_turns` and `run_config` are
    passed to every `Runner.run_streamed()`; `knowledge`, `memory` and `artifacts` give it
    host tools (see AdapterAgent). `tracing=False` stops the SDK sending its traces to
    OpenAI (`run_config.tracing_disabled`); None leaves `run_config` and the SDK's own
    default (`OPENAI_AGENTS_DISABLE_TRACING`) to decide."""

    kind: ClassVar[str] = "openai-agents"
    framework: ClassVar[str] = "OpenAI Agents SDK"

    def __init__(
        self,
        agent: agents.Agent[Any],
        *,
        name: str | None = None,
        description: str = "",
        context: Any = None,
        max_turns: int = 10,
        run_config: agents.RunConfig | None = None,
        tracing: bool | None = None,
        **resources: Unpack[ResourceOptions],
    ) -> None:
        super().__init__(
            name=name or agent.name or "openai-agents",
            description=description,
            **resources,
        )
        self.agent = agent
        self.context = context
        self.max_turns = max_turns
        if tracing is not None:
            run_config = replace(run_config or agents.RunConfig(), tracing_disabled=not tracing)
        self.run_config = run_config

    async def _turn(
        self, ctx: RunContext, host: HostAPI, tools: RunTools
    ) -> AsyncGenerator[ResultBatch, None]:
        items = to_input_items(await host.history.messages())
        if not items:
            items = [{"role": "user", "content": ctx.input.text}]
        agent = self.agent
        functions = tools.functions()
        if functions:
            agent = agent.clone(tools=[*agent.tools, *map(agents.function_tool, functions)])
        result = agents.Runner.run_streamed(
            agent,
            items,
            context=self.context,
            max_turns=self.max_turns,
            run_config=self.run_config,
        )
        names: dict[str, str] = {}  # tool call id: tool name (an output item may not say)
        try:
            async for event in result.stream_events():
                batch = _results(event, names)
                if batch:
                    yield batch
        finally:
            result.cancel()  # no-op once the run is done; cancels the model call otherwise
        yield RunCompleted()


def _results(event: Any, names: dict[str, str]) -> list[RunResult]:
    if isinstance(event, RawResponsesStreamEvent):
        data = event.data
        if isinstance(data, ResponseTextDeltaEvent) and data.delta:
            return [MessageDelta(text=data.delta)]
        if isinstance(data, ResponseCompletedEvent):
            return [_completed(data.response)]
        return []
    if isinstance(event, RunItemStreamEvent):
        item = event.item
        if event.name == "tool_called" and isinstance(item, ToolCallItem):
            raw = item.raw_item
            if not isinstance(raw, ResponseFunctionToolCall):
                return []  # hosted tools (web search, ...) are not reported
            names[raw.call_id] = raw.name
            return [
                ToolCallStarted(
                    tool_call_id=raw.call_id,
                    tool_name=raw.name,
                    parameters=json_text(raw.arguments),
                )
            ]
        if event.name == "tool_output" and isinstance(item, ToolCallOutputItem):
            raw_out = item.raw_item
            call_id = _get(raw_out, "call_id")
            return [
                ToolCallCompleted(
                    tool_call_id=str(call_id or ""),
                    tool_name=_get(raw_out, "name")
                    or names.get(str(call_id or ""))
                    or _tool_name(item),
                    result=plain_text(item.output),
                )
            ]
    return []


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def _tool_name(item: Any) -> str:
    origin = getattr(item, "tool_origin", None)
    return str(getattr(origin, "tool_name", "") or "")


def _completed(response: Any) -> MessageCompleted:
    text: list[str] = []
    calls: list[ToolCallPart] = []
    for out in response.output:
        kind = getattr(out, "type", None)
        if kind == "message":
            text.extend(getattr(c, "text", "") for c in out.content if c.type == "output_text")
        elif kind == "function_call":
            calls.append(ToolCallPart(id=out.call_id, name=out.name, arguments=out.arguments))
    used = response.usage
    model = getattr(response, "model", None)
    return MessageCompleted(
        message=assistant("".join(text), calls),
        usage=usage(used.input_tokens, used.output_tokens) if used is not None else None,
        model=model if isinstance(model, str) and model else None,
    )


def to_input_items(history: Sequence[Message]) -> list[Any]:
    """Our messages as the SDK's input items (text, tool calls and tool results; images and
    files are left out)."""
    out: list[Any] = []
    for message in history:
        if message.role in ("user", "system"):
            out.append({"role": message.role, "content": message.text})
        elif message.role == "assistant":
            if message.text:
                out.append({"role": "assistant", "content": message.text})
            out.extend(
                {
                    "type": "function_call",
                    "call_id": c.id,
                    "name": c.name,
                    "arguments": c.arguments,
                }
                for c in message.tool_calls
            )
        else:
            out.extend(
                {"type": "function_call_output", "call_id": p.tool_call_id, "output": p.content}
                for p in message.parts
                if isinstance(p, ToolResultPart)
            )
    return out
