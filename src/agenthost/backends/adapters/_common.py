"""What the framework adapters share: the manifest, the run wrapper that turns a framework's
exception into `RunFailed`, the run's host tools (knowledge, memory, artifacts: _host_tools.py),
history splitting and small value helpers.

An adapter subclass implements `_turn(ctx, host, tools)`, an async generator of results that
ends with `RunCompleted`; `tools` are the run's host tools, which it gives its framework in the
framework's own format. `run()` wraps it in `aclosing`, so when the runner cancels the pending
await (runner.cancel, a deadline, the caller going away) or closes the generator, the
framework's own stream is closed by the `async with` blocks inside `_turn`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any, ClassVar, TypeAlias, TypedDict

import orjson

from agenthost.backends.adapters._host_tools import RunTools, as_retrieval
from agenthost.core.errors import AgentHostError, MissingExtraError
from agenthost.core.messages import Message, Part, TextPart, ToolCallPart
from agenthost.core.usage import Usage
from agenthost.engine.catalog import Catalog, catalog_of
from agenthost.engine.retrieval import MemoryUse, Retrieval
from agenthost.engine.shown import Shown
from agenthost.ports.knowledge import KnowledgeBase
from agenthost.ports.protocol import (
    Capabilities,
    HostAPI,
    KnowledgeResource,
    Manifest,
    Permissions,
    Resources,
    ResultBatch,
    RunContext,
    RunFailed,
)

log = logging.getLogger("agenthost.adapters")

# the adapters' `knowledge` and `memory` options (see AdapterAgent)
KnowledgeOption: TypeAlias = Retrieval | Sequence[KnowledgeBase] | None
MemoryOption: TypeAlias = bool | MemoryUse


class ResourceOptions(TypedDict, total=False):
    """The adapters' keyword options for agenthost's stores (see AdapterAgent): `knowledge`
    (default None), `memory` (default False), `artifacts` (default False)."""

    knowledge: KnowledgeOption
    memory: MemoryOption
    artifacts: bool


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
    """Base of the framework adapters (see the module docstring).

    `knowledge` (knowledge bases, or a `Retrieval` for its `top_k` and reranker) gives the
    framework agent a `search_knowledge(query)` tool over them, and grants them to its runs.
    `memory` gives it `load_memory(query)` over the run's user's long-term memory: `True`
    uses the Runner's memory store (`Runner(memory=...)`), a `MemoryUse` brings its own
    store (opened with the agent). `artifacts=True` gives it `save_artifact`,
    `load_artifact` and `list_artifacts` over the run's session's files (the Runner's
    artifact store). Every tool goes through the run's host API (_host_tools.py)."""

    kind: ClassVar[str]  # "pydantic-ai": the manifest id's prefix
    framework: ClassVar[str]  # "pydantic-ai": for messages
    permissions: ClassVar[Permissions] = Permissions()

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        knowledge: KnowledgeOption = None,
        memory: MemoryOption = False,
        artifacts: bool = False,
    ) -> None:
        self.name = name
        self.retrieval = as_retrieval(knowledge)
        # a MemoryUse's store is the one the Runner grants runs (`agent_memory`)
        self.memory: MemoryUse | None = None if isinstance(memory, bool) else memory
        self._uses_memory = bool(memory)
        self._uses_artifacts = artifacts
        perms = self.permissions
        if self.retrieval is not None or memory or artifacts:
            perms = Permissions(
                knowledge_bases=self.retrieval is not None,
                memory=bool(memory),
                artifacts=artifacts,
            )
        self._manifest = Manifest(
            id=f"agenthost:{self.kind}/{name}",
            name=name,
            description=description or f"An agent written with {self.framework}.",
            capabilities=Capabilities(
                streaming=True,
                tool_calling=True,
                stateful_session=True,
                interrupt=True,
                knowledge_retrieval=self.retrieval is not None,
            ),
            permissions=perms,
        )

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def catalog(self) -> Catalog:
        """The knowledge bases the agent searches (the Runner adds them to its catalogue)."""
        return catalog_of(knowledge=self.retrieval.bases if self.retrieval is not None else ())

    def resources(self) -> Resources:
        """What its runs are granted besides the Runner's stores: its knowledge bases."""
        bases = self.retrieval.bases if self.retrieval is not None else ()
        return Resources(knowledge_bases=[KnowledgeResource(kb_id=kb.id) for kb in bases])

    async def __aenter__(self) -> AdapterAgent:
        if self.retrieval is not None:
            await self.retrieval.open()
        if self.memory is not None:
            await self.memory.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            if self.retrieval is not None:
                await self.retrieval.aclose()
        finally:
            if self.memory is not None:
                await self.memory.aclose()

    def run_tools(self, host: HostAPI) -> RunTools:
        """The host tools of a run (those the adapter is configured with)."""
        return RunTools(
            host,
            retrieval=self.retrieval,
            memory=self._uses_memory,
            memory_top_k=self.memory.top_k if self.memory is not None else 3,
            artifacts=self._uses_artifacts,
        )

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncGenerator[ResultBatch, None]:
        shown = Shown()  # a reply cut off mid-stream is kept, marked incomplete
        tools = self.run_tools(host)
        try:
            async with aclosing(self._turn(ctx, host, tools)) as turn:
                async for batch in turn:
                    found = tools.take_found()  # the searches the tools ran meanwhile
                    if found:
                        batch = [*found, *(batch if isinstance(batch, list) else [batch])]
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

    def _turn(
        self, ctx: RunContext, host: HostAPI, tools: RunTools
    ) -> AsyncGenerator[ResultBatch, None]:
        raise NotImplementedError
