"""PydanticAIAgent: a pydantic-ai `Agent` hosted as an agenthost agent (extra `pydantic-ai`).

History: the session's messages are converted to pydantic-ai's `ModelRequest`/`ModelResponse`
(user, system and assistant text, tool calls, tool results) and passed as `message_history`;
the run's user message is the `user_prompt`. Nothing is kept in session state.

The run goes through `agent.iter()`, node by node:

    model request node     its stream's text parts      MessageDelta
    call-tools node        the model's response         MessageCompleted (text, tool calls,
                                                         usage, model name)
                           FunctionToolCallEvent        ToolCallStarted
                           FunctionToolResultEvent      ToolCallCompleted (error unless
                                                         its outcome is "success")
    end                                                 RunCompleted

The run's host tools (`knowledge`, `memory`, `artifacts`: see AdapterAgent) are added to the
agent's own for that run as a `FunctionToolset` (`iter(toolsets=...)`).

Cancelling the run closes the node streams and the `iter()` context, which cancels the HTTP
request to the model.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, ClassVar, Unpack

from agenthost.backends.adapters._common import (
    AdapterAgent,
    ResourceOptions,
    assistant,
    json_text,
    missing,
    plain_text,
    split_history,
    usage,
)
from agenthost.backends.adapters._host_tools import RunTools
from agenthost.core.messages import Message, TextPart, ToolCallPart, ToolResultPart
from agenthost.ports.protocol import (
    HostAPI,
    MessageCompleted,
    MessageDelta,
    ResultBatch,
    RunCompleted,
    RunContext,
    ToolCallCompleted,
    ToolCallStarted,
)

try:
    from pydantic_ai import Agent, FunctionToolset
    from pydantic_ai import messages as pm
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing("The pydantic-ai adapter", "pydantic-ai", exc) from exc


class PydanticAIAgent(AdapterAgent):
    """`agent` (a `pydantic_ai.Agent` with a text output) as an agent; `deps` and
    `model_settings` are passed to every run; `knowledge`, `memory` and `artifacts` give it
    host tools (see AdapterAgent)."""

    kind: ClassVar[str] = "pydantic-ai"
    framework: ClassVar[str] = "pydantic-ai"

    def __init__(
        self,
        agent: Agent[Any, Any],
        *,
        name: str | None = None,
        description: str = "",
        deps: Any = None,
        model_settings: Any = None,
        **resources: Unpack[ResourceOptions],
    ) -> None:
        super().__init__(
            name=name or agent.name or "pydantic-ai",
            description=description,
            **resources,
        )
        self.agent = agent
        self.deps = deps
        self.model_settings = model_settings

    async def _turn(
        self, ctx: RunContext, host: HostAPI, tools: RunTools
    ) -> AsyncGenerator[ResultBatch, None]:
        prior, current = split_history(await host.history.messages())
        prompt = current.text if current is not None else ctx.input.text
        functions = tools.functions()
        async with self.agent.iter(
            prompt,
            message_history=to_pydantic_ai(prior),
            deps=self.deps,
            model_settings=self.model_settings,
            toolsets=[FunctionToolset(functions)] if functions else None,
        ) as run:
            async for node in run:
                if Agent.is_model_request_node(node):
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            text = _text_delta(event)
                            if text:
                                yield MessageDelta(text=text)
                elif Agent.is_call_tools_node(node):
                    yield _completed(node.model_response)
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            result = _tool_result(event)
                            if result is not None:
                                yield result
        yield RunCompleted()


def _text_delta(event: Any) -> str:
    if isinstance(event, pm.PartStartEvent) and isinstance(event.part, pm.TextPart):
        return event.part.content
    if isinstance(event, pm.PartDeltaEvent) and isinstance(event.delta, pm.TextPartDelta):
        return event.delta.content_delta
    return ""


def _completed(response: pm.ModelResponse) -> MessageCompleted:
    text = "".join(p.content for p in response.parts if isinstance(p, pm.TextPart))
    calls = [
        ToolCallPart(id=p.tool_call_id, name=p.tool_name, arguments=json_text(p.args))
        for p in response.parts
        if isinstance(p, pm.ToolCallPart) and p.tool_kind != "output"
    ]
    return MessageCompleted(
        message=assistant(text, calls),
        usage=usage(response.usage.input_tokens, response.usage.output_tokens),
        model=response.model_name,
    )


def _tool_result(event: Any) -> ToolCallStarted | ToolCallCompleted | None:
    if isinstance(event, pm.FunctionToolCallEvent):
        part = event.part
        return ToolCallStarted(
            tool_call_id=part.tool_call_id,
            tool_name=part.tool_name,
            parameters=json_text(part.args),
        )
    if isinstance(event, pm.FunctionToolResultEvent):
        result = event.part
        content = plain_text(result.content)
        failed = result.outcome != "success"  # failed, denied, interrupted, retried
        return ToolCallCompleted(
            tool_call_id=result.tool_call_id,
            tool_name=result.tool_name,
            result=content,
            error=content if failed else None,
        )
    return None


def to_pydantic_ai(history: Sequence[Message]) -> list[pm.ModelMessage]:
    """Our messages as pydantic-ai messages (text, tool calls and tool results; images and
    files are left out). Consecutive tool results go into one request."""
    out: list[pm.ModelMessage] = []
    for message in history:
        if message.role == "assistant":
            parts: list[pm.ModelResponsePart] = []
            if message.text:
                parts.append(pm.TextPart(content=message.text))
            parts.extend(
                pm.ToolCallPart(tool_name=c.name, args=c.arguments, tool_call_id=c.id)
                for c in message.tool_calls
            )
            if parts:
                out.append(pm.ModelResponse(parts=parts))
            continue
        request: list[pm.ModelRequestPart] = []
        for part in message.parts:
            if isinstance(part, ToolResultPart):
                request.append(
                    pm.ToolReturnPart(
                        tool_name=part.name, content=part.content, tool_call_id=part.tool_call_id
                    )
                )
            elif isinstance(part, TextPart) and message.role == "system":
                request.append(pm.SystemPromptPart(content=part.text))
            elif isinstance(part, TextPart):
                request.append(pm.UserPromptPart(content=part.text))
        if not request:
            continue
        last = out[-1] if out else None
        if message.role == "tool" and isinstance(last, pm.ModelRequest) and _only_returns(last):
            out[-1] = pm.ModelRequest(parts=[*last.parts, *request])
        else:
            out.append(pm.ModelRequest(parts=request))
    return out


def _only_returns(request: pm.ModelRequest) -> bool:
    return all(isinstance(p, pm.ToolReturnPart) for p in request.parts)
