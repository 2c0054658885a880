"""Test models: `ScriptedModel` plays back replies; `FunctionModel` computes them.

Both implement the ChatModel port with no network, so agents can be tested offline.
`ScriptedModel` raises `UnexpectedModelCall` when asked more often than scripted; call
`assert_consumed()` at the end of a test to fail on replies that were never used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

from agenthost.core.errors import AgentHostError
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, TextPart, ToolCallPart
from agenthost.core.usage import Usage
from agenthost.ports.models import (
    ModelResponse,
    ModelSettings,
    ResponseDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)


class UnexpectedModelCall(AgentHostError):
    code = "unexpected_model_call"


class UnconsumedSteps(AgentHostError):
    code = "unconsumed_steps"


def tool_call(name: str, arguments: str = "{}", *, id: str | None = None) -> ToolCallPart:
    """A tool call part for scripts: tool_call('get_weather', '{"city": "Paris"}')."""
    return ToolCallPart(id=id or f"call_{new_id()[-12:]}", name=name, arguments=arguments)


Step = str | ToolCallPart | list[ToolCallPart] | ModelResponse | BaseException


def _as_response(step: Step, model: str, usage: Usage) -> ModelResponse:
    if isinstance(step, ModelResponse):
        return step
    if isinstance(step, str):
        return ModelResponse(
            message=Message.assistant(step), usage=usage, model=model, finish_reason="stop"
        )
    calls = (step,) if isinstance(step, ToolCallPart) else tuple(step)  # type: ignore[arg-type]
    return ModelResponse(
        message=Message(role="assistant", parts=calls),
        usage=usage,
        model=model,
        finish_reason="tool_calls",
    )


class _BaseTestModel:
    def __init__(self, name: str, *, delay: float = 0.0, chunk_size: int = 4) -> None:
        self._name = name
        self.delay = delay
        self.chunk_size = chunk_size
        self.calls: list[list[Message]] = []
        self.tools_seen: list[list[ToolSpec]] = []

    @property
    def name(self) -> str:
        return self._name

    async def _next(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelResponse:
        raise NotImplementedError

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        self.calls.append(list(messages))
        self.tools_seen.append(list(tools))
        try:
            response = await self._next(messages, tools)
        finally:
            if self.delay:  # the reply is taken when the request is sent, then it "travels"
                await asyncio.sleep(self.delay)
        return response

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        response = await self.request(messages, tools=tools, settings=settings)
        text = response.message.text
        for i in range(0, len(text), self.chunk_size):
            yield TextDelta(text[i : i + self.chunk_size])
            await asyncio.sleep(0)
        for index, call in enumerate(response.message.tool_calls):
            yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
        yield ResponseDone(response)

    async def __aenter__(self) -> _BaseTestModel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class ScriptedModel(_BaseTestModel):
    """Replies in order: a str is a text answer, a ToolCallPart (or list) is a tool-call turn, a
    ModelResponse is returned as is, an exception is raised."""

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        name: str = "test:scripted",
        usage: Usage | None = None,
        delay: float = 0.0,
        chunk_size: int = 4,
    ) -> None:
        super().__init__(name, delay=delay, chunk_size=chunk_size)
        self.steps = list(steps)
        self.usage = usage or Usage(input_tokens=10, output_tokens=5, requests=1)

    async def _next(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelResponse:
        if not self.steps:
            last = messages[-1].text if messages else ""
            raise UnexpectedModelCall(
                f"{self.name} was called more often than scripted (last message: {last!r})"
            )
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return _as_response(step, self.name, self.usage)

    def assert_consumed(self) -> None:
        if self.steps:
            raise UnconsumedSteps(f"{len(self.steps)} scripted replies were never requested")


ModelFunction = Callable[[list[Message], list[ToolSpec]], Awaitable[Step] | Step]


class FunctionModel(_BaseTestModel):
    """Replies with whatever `function(messages, tools)` returns (sync or async)."""

    def __init__(
        self,
        function: ModelFunction,
        *,
        name: str = "test:function",
        usage: Usage | None = None,
        delay: float = 0.0,
    ) -> None:
        super().__init__(name, delay=delay)
        self.function = function
        self.usage = usage or Usage(input_tokens=10, output_tokens=5, requests=1)

    async def _next(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelResponse:
        result: Any = self.function(list(messages), list(tools))
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, BaseException):
            raise result
        return _as_response(result, self.name, self.usage)


__all__ = [
    "FunctionModel",
    "ScriptedModel",
    "TextPart",
    "UnconsumedSteps",
    "UnexpectedModelCall",
    "tool_call",
]
