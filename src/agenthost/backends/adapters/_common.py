"""What the framework adapters share: the manifest, the run wrapper that turns a framework's
exception into `RunFailed`, history splitting and small value helpers.

An adapter subclass implements `_turn(ctx, host)`, an async generator of results that ends
with `RunCompleted`. `run()` wraps it in `aclosing`, so when the runner cancels the pending
await (runner.cancel, a deadline, the caller going away) or closes the generator, the
framework's own stream is closed by the `async with` blocks inside `_turn`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any, ClassVar

import orjson

from agenthost.core.errors import AgentHostError, MissingExtraError
from agenthost.core.messages import Message, Part, TextPart, ToolCallPart
from agenthost.core.usage import Usage
from agenthost.engine.shown import Shown
from agenthost.ports.protocol import (
    Capabilities,
    HostAPI,
    Manifest,
    Permissions,
    ResultBatch,
    RunContext,
    RunFailed,
)

log = logging.getLogger("agenthost.adapters")

ADAPTER_ERROR = "adapter.error"  # the framework raised
MODEL_ERROR = "adapter.model_error"  # the model endpoint answered an HTTP error, or broke off
MODEL_TIMEOUT = "adapter.model_timeout"  # the model endpoint went silent

# exception classes (by name, anywhere in the MRO: the frameworks' HTTP clients are optional)
_TIMEOUTS = frozenset({"TimeoutError", "APITimeoutError", "TimeoutException"})
_CONNECTION = frozenset({"ConnectionError", "APIConnectionError", "TransportError"})


def missing(feature: str, extra: str, exc: ImportError) -> MissingExtraError:
    """The error for a framework that is not installed."""
    return MissingExtraError(feature, extra, exc.name or extra)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def failure(exc: Exception) -> RunFailed:
    """A framework exception as RunFailed: an HTTP error of the model (any exception, or its
    cause, with an int `status_code`) is `adapter.model_error`, retryable on 408/409/429/5xx;
    a model endpoint that went silent is `adapter.model_timeout` and one whose connection
    broke is `adapter.model_error`, both retryable; anything else is `adapter.error`."""
    seen: BaseException | None = exc
    while seen is not None:
        status = getattr(seen, "status_code", None)
        if isinstance(status, int):
            return model_failure(describe(exc), status)
        broken = transport_failure(describe(exc), {c.__name__ for c in type(seen).__mro__})
        if broken is not None:
            return broken
        seen = seen.__cause__ or seen.__context__
    return RunFailed(error=describe(exc), code=ADAPTER_ERROR)


def transport_failure(error: str, class_names: set[str]) -> RunFailed | None:
    """RunFailed for a model endpoint that went silent or broke off (known by the names of the
    exception's classes), retryable; None for any other exception."""
    if class_names & _TIMEOUTS:
        return RunFailed(error=error, code=MODEL_TIMEOUT, retryable=True)
    if class_names & _CONNECTION:
        return RunFailed(error=error, code=MODEL_ERROR, retryable=True)
    return None


def model_failure(error: str, status: int) -> RunFailed:
    """RunFailed for an HTTP error of the model: retryable on 408/409/429/5xx."""
    retryable = status in (408, 409, 429) or status >= 500
    return RunFailed(error=error, code=MODEL_ERROR, retryable=retryable)


def json_text(value: Any) -> str:
    """Tool arguments as JSON text (a string is kept as it is)."""
    if value is None or value == "":
        return "{}"
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def plain_text(value: Any) -> str:
    """A tool result or message content as text."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return str(value)


def split_history(history: Sequence[Message]) -> tuple[list[Message], Message | None]:
    """(the messages before this run's user message, that message); the runner stores the
    user's message before the run starts, so it is the last one."""
    messages = list(history)
    if messages and messages[-1].role == "user":
        return messages[:-1], messages[-1]
    return messages, None


def assistant(text: str, calls: Sequence[ToolCallPart] = ()) -> Message:
    parts: tuple[Part, ...] = ((TextPart(text=text),) if text else ()) + tuple(calls)
    return Message(role="assistant", parts=parts)


def usage(input_tokens: Any, output_tokens: Any, requests: int = 1) -> Usage | None:
    """A Usage from token counts, None when the framework reported none."""
    if not input_tokens and not output_tokens:
        return None
    return Usage(
        input_tokens=int(input_tokens or 0),
        output_tokens=int(output_tokens or 0),
        requests=requests,
    )


class AdapterAgent:
    """Base of the framework adapters (see the module docstring)."""

    kind: ClassVar[str]  # "pydantic-ai": the manifest id's prefix
    framework: ClassVar[str]  # "pydantic-ai": for messages
    permissions: ClassVar[Permissions] = Permissions()

    def __init__(self, *, name: str, description: str = "") -> None:
        self.name = name
        self._manifest = Manifest(
            id=f"agenthost:{self.kind}/{name}",
            name=name,
            description=description or f"An agent written with {self.framework}.",
            capabilities=Capabilities(
                streaming=True, tool_calling=True, stateful_session=True, interrupt=True
            ),
            permissions=self.permissions,
        )

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        shown = Shown()  # a reply cut off mid-stream is kept, marked incomplete
        try:
            async with aclosing(self._turn(ctx, host)) as turn:
                async for batch in turn:
                    shown.note(batch)
                    cut = shown.cut_off()
                    if (
                        cut is not None
                        and isinstance(batch, list)
                        and any(isinstance(r, RunFailed) for r in batch)
                    ):  # the framework reported the failure itself: keep the reply too
                        batch = [cut, *batch]
                    yield batch
        except AgentHostError:
            raise  # a refused host call: the runner reports its own code
        except Exception as exc:
            log.warning(
                "%s agent %r failed in run %s: %s", self.framework, self.name, ctx.run_id, exc
            )
            failed = failure(exc)
            cut = shown.cut_off()
            yield failed if cut is None else [cut, failed]

    def _turn(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        raise NotImplementedError
