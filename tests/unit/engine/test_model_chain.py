"""ModelChain.stream: retries and fallbacks before the first item, none after it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

from agenthost.core.errors import ModelHTTPError, ModelResponseError
from agenthost.core.messages import Message
from agenthost.engine.model_chain import ModelChain, RetryPolicy
from agenthost.ports.models import ResponseDone, StreamEvent, TextDelta
from agenthost.testing.scripted import ScriptedModel

HI = [Message.user("hi")]
BUSY = ModelHTTPError(model="a", status_code=503, body="busy")


class BreaksAfter(ScriptedModel):
    """Streams `shown`, then fails: output was shown, so nothing may retry it."""

    def __init__(self, shown: str) -> None:
        super().__init__([shown], name="test:breaks")
        self.shown = shown
        self.streams = 0
        self.closed = 0

    async def stream(  # type: ignore[override]
        self, messages: Sequence[Message], **kwargs: Any
    ) -> AsyncGenerator[StreamEvent, None]:
        self.streams += 1
        try:
            yield TextDelta(self.shown)
            raise ModelResponseError(model="test:breaks", detail="cut")
        finally:
            self.closed += 1


async def test_stream_retries_then_falls_back_before_its_first_item() -> None:
    first = ScriptedModel([BUSY, BUSY], name="test:a")
    second = ScriptedModel(["from b"], name="test:b", chunk_size=2)
    chain = ModelChain([first, second], RetryPolicy(retries=1, backoff=0))
    items = [item async for item in chain.stream(HI)]
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["fr", "om", " b"]
    assert isinstance(items[-1], ResponseDone) and items[-1].response.model == "test:b"
    first.assert_consumed()
    assert len(first.calls) == 2 and len(second.calls) == 1


async def test_a_stream_that_gave_output_is_not_retried_and_ends() -> None:
    model = BreaksAfter("partial")
    fallback = ScriptedModel(["never"], name="test:b")
    chain = ModelChain([model, fallback], RetryPolicy(retries=3, backoff=0))
    stream = chain.stream(HI)
    seen: list[StreamEvent] = []
    with pytest.raises(ModelResponseError, match="cut"):
        async for item in stream:
            seen.append(item)
    assert seen == [TextDelta("partial")]
    assert model.streams == 1 and fallback.calls == []
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_non_retryable_error_is_raised_at_once_and_the_stream_ends() -> None:
    denied = ModelHTTPError(model="a", status_code=401, body="no")
    first = ScriptedModel([denied], name="test:a")
    fallback = ScriptedModel(["never"], name="test:b")
    stream = ModelChain([first, fallback], RetryPolicy(retries=2, backoff=0)).stream(HI)
    with pytest.raises(ModelHTTPError) as info:
        await anext(stream)
    assert info.value is denied and fallback.calls == []
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_all_models_failing_raises_the_last_error() -> None:
    other = ModelHTTPError(model="b", status_code=502, body="down")
    chain = ModelChain(
        [ScriptedModel([BUSY], name="test:a"), ScriptedModel([other], name="test:b")],
        RetryPolicy(retries=0),
    )
    with pytest.raises(ModelHTTPError) as info:
        [item async for item in chain.stream(HI)]
    assert info.value is other


async def test_closing_the_stream_closes_the_model_stream() -> None:
    model = BreaksAfter("partial")
    stream = ModelChain([model]).stream(HI)
    assert await anext(stream) == TextDelta("partial")
    await stream.aclose()
    assert model.closed == 1
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    unstarted = ModelChain([model]).stream(HI)
    await unstarted.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(unstarted)
    assert model.streams == 1  # a stream closed before it started calls no model
