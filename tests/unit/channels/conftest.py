"""Channel test helpers: an input fed from the test, an output that records (and can fail)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from agenthost import LLMAgent
from agenthost.channels import InputClient, OutputClient, OutputLimits, Sink
from agenthost.core.errors import DeliveryFailed
from agenthost.ports.channels import Delivery, InboundMessage
from agenthost.testing import FunctionModel


class FeedInput(InputClient):
    """Submits what the test puts in; `results` are the sink's answers."""

    platform: ClassVar[str] = "feed"

    def __init__(self, name: str = "feed", *, crash_first: int = 0) -> None:
        super().__init__(name=name)
        self.queue: asyncio.Queue[InboundMessage] = asyncio.Queue()
        self.results: list[str] = []
        self.answered = asyncio.Condition()
        self.crash_first = crash_first
        self.runs = 0
        self.crashed = asyncio.Event()  # set as it crashes (the runtime sees it at once)

    async def run(self, sink: Sink) -> None:
        self.runs += 1
        if self.runs <= self.crash_first:
            self.crashed.set()
            raise RuntimeError(f"crash {self.runs}")
        while True:
            message = await self.queue.get()
            result = await sink.submit(message)
            async with self.answered:
                self.results.append(result)
                self.answered.notify_all()

    def put(self, conversation: str, text: str, id: str | None = None, **kw: Any) -> None:
        self.queue.put_nowait(
            InboundMessage(
                id=id or f"{conversation}-{text}", conversation=conversation, text=text, **kw
            )
        )

    async def wait_results(self, n: int) -> None:
        async with self.answered:
            await self.answered.wait_for(lambda: len(self.results) >= n)


class RecordingOutput(OutputClient):
    """Records what it delivers; `fail(delivery)` may raise to make a send fail."""

    platform: ClassVar[str] = "rec"

    def __init__(
        self,
        name: str = "feed",
        *,
        fail: Callable[[Delivery, int], DeliveryFailed | None] | None = None,
        max_chars: int | None = None,
    ) -> None:
        super().__init__(name=name)
        self.sent: list[Delivery] = []
        self.attempts = 0
        self.fail = fail
        self.limits = OutputLimits(max_chars=max_chars)
        self.changed = asyncio.Condition()

    async def send(self, delivery: Delivery) -> None:
        self.attempts += 1
        if self.fail is not None and (exc := self.fail(delivery, self.attempts)) is not None:
            async with self.changed:
                self.changed.notify_all()
            raise exc
        async with self.changed:
            self.sent.append(delivery)
            self.changed.notify_all()

    async def wait_sent(self, n: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.sent) >= n)

    def texts(self, target: str | None = None) -> list[str]:
        return [d.item.text for d in self.sent if target is None or d.item.target == target]


def echo_agent(delay: Callable[[str], Any] | None = None) -> LLMAgent:
    """Replies 'echo: <last user text>'; `delay(text)` may return an awaitable to wait on."""

    async def reply(messages: list[Any], tools: Any) -> str:
        text = messages[-1].text
        if delay is not None:
            waiting = delay(text)
            if waiting is not None:
                await waiting
        return f"echo: {text}"

    return LLMAgent(model=FunctionModel(reply))


@pytest.fixture
def feed() -> FeedInput:
    return FeedInput()


@pytest.fixture
def out() -> RecordingOutput:
    return RecordingOutput()
