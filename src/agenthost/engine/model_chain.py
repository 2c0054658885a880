"""`ModelChain`: a ChatModel that calls models with retries and ordered fallbacks.

On a retryable error (HTTP 408/409/429/5xx, timeout, connection error, unreadable answer) the
same model is retried up to `retries` times with exponential backoff, honouring Retry-After
when it is not longer than `max_retry_wait` (a longer wait switches model at once); then the
next model in the list is tried. A non-retryable error (400, 401, 404, ...) is raised at once.
A stream that already produced output is never retried (its text was shown): it fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from agenthost.core.errors import ModelError, ModelHTTPError
from agenthost.core.messages import Message
from agenthost.ports.models import ChatModel, ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import ModelsAPI

log = logging.getLogger("agenthost.models")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 1
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_wait: float = 10.0

    def delay(self, attempt: int, error: ModelError) -> float | None:
        """Seconds to wait before retrying the same model, or None to switch model now."""
        if attempt >= self.retries:
            return None
        retry_after = error.retry_after if isinstance(error, ModelHTTPError) else None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_wait else None
        return float(min(self.backoff * (2**attempt), self.max_backoff))


class HostModel:
    """One model of a run, called through the run's host (so every call is authorized): a
    ChatModel whose `request` and `stream` are the host's own, with no layer of their own."""

    __slots__ = ("_models", "name")

    def __init__(self, models: ModelsAPI, model_id: str) -> None:
        self._models = models
        self.name = model_id

    def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> Coroutine[Any, Any, ModelResponse]:
        return self._models.invoke(self.name, messages, tools=tools, settings=settings)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        return self._models.stream(self.name, messages, tools=tools, settings=settings)

    async def __aenter__(self) -> HostModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class ModelChain:
    """A ChatModel that calls its models in order, with retries (see the module docstring).

    `ModelChain([primary, fallback], policy)`; its name is the first model's. Over the run's
    host: `ModelChain.over(host.models, ["openai:gpt-4o", "local:smollm2"], policy)`. Entering
    it enters its models."""

    __slots__ = ("models", "policy")

    def __init__(self, models: Sequence[ChatModel], policy: RetryPolicy | None = None) -> None:
        if not models:
            raise ValueError("ModelChain needs at least one model")
        self.models = list(models)
        self.policy = policy or RetryPolicy()

    @classmethod
    def over(
        cls, models: ModelsAPI, model_ids: Sequence[str], policy: RetryPolicy | None = None
    ) -> ModelChain:
        return cls([HostModel(models, m) for m in model_ids], policy)

    @property
    def name(self) -> str:
        return self.models[0].name

    async def __aenter__(self) -> ModelChain:
        for model in self.models:
            await model.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for model in self.models:
            await model.__aexit__(None, None, None)

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        tries: _Tries | None = None  # made at the first failure: most calls have none
        for model in self.models:
            while True:
                try:
                    return await model.request(messages, tools=tools, settings=settings)
                except ModelError as exc:
                    if tries is None:
                        tries = _Tries(self.policy)
                    if not await tries.again(exc, model.name):
                        break
        assert tries is not None
        raise tries.failure()

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        return _ChainStream(self, messages, tools, settings)


class _ChainStream(AsyncGenerator[StreamEvent, None]):
    """`ModelChain.stream`: retries and fallbacks until a model's stream gives its first item;
    from then on every item comes straight from that stream (no frame of ours per item; a
    later error is raised as it comes: shown output is never retried)."""

    __slots__ = ("_chain", "_finished", "_inner", "_messages", "_settings", "_tools")

    def __init__(
        self,
        chain: ModelChain,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None,
    ) -> None:
        self._chain = chain
        self._messages = messages
        self._tools = tools
        self._settings = settings
        self._inner: AsyncGenerator[StreamEvent, None] | None = None
        self._finished = False

    def __anext__(self) -> Coroutine[Any, Any, StreamEvent]:
        inner = self._inner
        if inner is not None:
            return inner.__anext__()
        return self._first()

    async def _first(self) -> StreamEvent:
        if self._finished:
            raise StopAsyncIteration
        self._finished = True
        tries: _Tries | None = None  # made at the first failure: most calls have none
        for model in self._chain.models:
            while True:
                stream = model.stream(self._messages, tools=self._tools, settings=self._settings)
                try:
                    item = await anext(stream)
                except ModelError as exc:
                    if tries is None:
                        tries = _Tries(self._chain.policy)
                    if not await tries.again(exc, model.name):
                        break
                    continue
                self._inner = stream
                return item
        assert tries is not None
        raise tries.failure()

    def asend(self, value: None) -> Coroutine[Any, Any, StreamEvent]:
        return self.__anext__()

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None) -> StreamEvent:
        if self._inner is not None:
            return await self._inner.athrow(typ, val, tb)
        self._finished = True
        raise typ if val is None else val

    async def aclose(self) -> None:
        self._finished = True
        if self._inner is not None:
            await self._inner.aclose()


class _Tries:
    """The retry book-keeping of one call: attempts on the current model, the last error."""

    __slots__ = ("attempt", "last", "policy")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 0
        self.last: ModelError | None = None

    async def again(self, exc: ModelError, model_id: str) -> bool:
        """After `exc`: wait and return True to retry the same model, or return False to go
        to the next one; a non-retryable error is raised at once."""
        self.last = exc
        if not exc.retryable:
            raise exc
        wait = self.policy.delay(self.attempt, exc)
        if wait is None:
            log.warning("model %s failed (%s); switching to the next model", model_id, exc.code)
            self.attempt = 0
            return False
        log.info("model %s failed (%s); retrying in %.2fs", model_id, exc.code, wait)
        await asyncio.sleep(wait)
        self.attempt += 1
        return True

    def failure(self) -> ModelError:
        assert self.last is not None
        return self.last
