"""Calling a model with retries and ordered fallbacks.

On a retryable error (HTTP 408/409/429/5xx, timeout, connection error, unreadable answer) the
same model is retried up to `retries` times with exponential backoff, honouring Retry-After
when it is not longer than `max_retry_wait` (a longer wait switches model at once); then the
next model in the list is tried. A non-retryable error (400, 401, 404, ...) is raised at once.
A stream that already produced output is never retried (its text was shown): it fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from agenthost.core.errors import ModelError, ModelHTTPError
from agenthost.core.messages import Message
from agenthost.ports.models import ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import HostAPI

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


async def invoke(
    host: HostAPI,
    model_ids: Sequence[str],
    messages: Sequence[Message],
    *,
    tools: Sequence[ToolSpec],
    settings: ModelSettings | None,
    policy: RetryPolicy,
) -> ModelResponse:
    last: ModelError | None = None
    for model_id in model_ids:
        attempt = 0
        while True:
            try:
                return await host.invoke_model(model_id, messages, tools=tools, settings=settings)
            except ModelError as exc:
                last = exc
                wait = _next_wait(exc, attempt, policy, model_id)
                if wait is None:
                    break
                await asyncio.sleep(wait)
                attempt += 1
    assert last is not None
    raise last


def _next_wait(exc: ModelError, attempt: int, policy: RetryPolicy, model_id: str) -> float | None:
    if not exc.retryable:
        raise exc
    wait = policy.delay(attempt, exc)
    if wait is None:
        log.warning("model %s failed (%s); switching to the next model", model_id, exc.code)
    else:
        log.info("model %s failed (%s); retrying in %.2fs", model_id, exc.code, wait)
    return wait


async def stream(
    host: HostAPI,
    model_ids: Sequence[str],
    messages: Sequence[Message],
    *,
    tools: Sequence[ToolSpec],
    settings: ModelSettings | None,
    policy: RetryPolicy,
) -> AsyncIterator[StreamEvent]:
    last: ModelError | None = None
    for model_id in model_ids:
        attempt = 0
        while True:
            produced = False
            try:
                async for item in host.stream_model(
                    model_id, messages, tools=tools, settings=settings
                ):
                    produced = True
                    yield item
                return
            except ModelError as exc:
                if produced:
                    raise
                last = exc
                wait = _next_wait(exc, attempt, policy, model_id)
                if wait is None:
                    break
                await asyncio.sleep(wait)
                attempt += 1
    assert last is not None
    raise last
