"""Agent protocol v1: what an agent receives, what it streams back, and what it may call.

After LangBot's AgentRunner Protocol v1. An agent is anything with a `manifest` and a
`run(ctx, host)` async iterator of results. The same shapes go over JSON-RPC to plugin agents in
another process, so everything here is a msgspec Struct that encodes to plain JSON.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from agenthost.core.events import ErrorInfo, Event
from agenthost.core.messages import Message, ToolResultPart
from agenthost.core.state import Scope
from agenthost.core.usage import Usage
from agenthost.ports.artifacts import Artifact, ArtifactInfo
from agenthost.ports.knowledge import Chunk, MemoryInfo
from agenthost.ports.models import ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.tools import ToolOutput

PROTOCOL_VERSION = "1"

# ---- run context --------------------------------------------------------------------------

ModelOp = Literal["invoke", "stream", "count_tokens"]
ToolOp = Literal["detail", "call"]
KnowledgeOp = Literal["list", "retrieve"]
StorageOp = Literal["get", "set", "delete", "list"]
ArtifactOp = Literal["save", "load", "list", "delete"]
MemoryOp = Literal["search", "add", "list", "delete"]


class Struct(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


class EventSource(Struct):
    platform: str = "api"  # api | cli | webui | scheduler | channel name
    conversation_id: str = ""
    sender_id: str = ""
    sender_name: str | None = None


class EventSection(Struct):
    event_id: str
    event_type: str = "message.received"
    event_time: float = msgspec.field(default_factory=time.time)
    source: EventSource = msgspec.field(default_factory=EventSource)


class Attachment(Struct):
    type: Literal["image", "file", "audio", "video"]
    mime_type: str | None = None
    name: str | None = None
    url: str | None = None
    size: int | None = None


class InputSection(Struct):
    text: str = ""
    contents: list[dict[str, Any]] = msgspec.field(default_factory=list)
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    message: Message | None = None  # the full message, parts included


class ContextSection(Struct):
    conversation_id: str  # our session id
    user_id: str
    app: str
    latest_cursor: int = 0  # seq of the newest stored event before this run
    has_history_before: bool = False
    available_apis: list[str] = msgspec.field(default_factory=list)


class ModelResource(Struct):
    model_id: str
    operations: list[ModelOp] = msgspec.field(default_factory=lambda: ["invoke", "stream"])


class ToolResource(Struct):
    tool_name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    operations: list[ToolOp] = msgspec.field(default_factory=lambda: ["detail", "call"])


class KnowledgeResource(Struct):
    kb_id: str
    operations: list[KnowledgeOp] = msgspec.field(default_factory=lambda: ["list", "retrieve"])


class StateResource(Struct):
    """Which state scopes the run may read and write; `keys` limits keys when not None."""

    read: list[Scope] = msgspec.field(default_factory=lambda: ["app", "user", "session", "temp"])
    write: list[Scope] = msgspec.field(default_factory=lambda: ["user", "session", "temp"])
    keys: list[str] | None = None


class StorageResource(Struct):
    namespace: str
    operations: list[StorageOp] = msgspec.field(
        default_factory=lambda: ["get", "set", "delete", "list"]
    )
    max_value_bytes: int = 1_000_000


class ArtifactsResource(Struct):
    """The run's artifacts: its session's, and the user's (`user:` names) when `user_scope`.
    `max_bytes` caps one saved version; a tool output longer than `spill_chars` characters
    is saved as an artifact and the model reads its first `spill_chars` characters and the
    reference (None: never; keep it below LLMAgent's `max_tool_result_chars`, 20,000)."""

    operations: list[ArtifactOp] = msgspec.field(
        default_factory=lambda: ["save", "load", "list", "delete"]
    )
    user_scope: bool = True
    max_bytes: int = 50_000_000
    spill_chars: int | None = 16_000


class MemoryResource(Struct):
    """The long-term memory of the run's user (never another's). `max_top_k` caps a search,
    `max_chars` one added memory."""

    operations: list[MemoryOp] = msgspec.field(
        default_factory=lambda: ["search", "add", "list", "delete"]
    )
    max_top_k: int = 50
    max_chars: int = 100_000


class Resources(Struct):
    models: list[ModelResource] = msgspec.field(default_factory=list)
    tools: list[ToolResource] = msgspec.field(default_factory=list)
    knowledge_bases: list[KnowledgeResource] = msgspec.field(default_factory=list)
    state: StateResource = msgspec.field(default_factory=StateResource)
    storage: StorageResource | None = None
    artifacts: ArtifactsResource | None = None
    memory: MemoryResource | None = None


class RuntimeSection(Struct):
    protocol_version: str = PROTOCOL_VERSION
    host: str = "agenthost"
    trace_id: str | None = None
    deadline_at: float | None = None  # unix time
    locale: str | None = None
    timezone: str | None = None


class DeliverySection(Struct):
    surface: str = "api"
    supports_streaming: bool = True
    supports_edit: bool = False
    max_message_size: int | None = None


class RunContext(Struct):
    run_id: str
    event: EventSection
    input: InputSection
    context: ContextSection
    resources: Resources
    runtime: RuntimeSection = msgspec.field(default_factory=RuntimeSection)
    delivery: DeliverySection = msgspec.field(default_factory=DeliverySection)
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    adapter: dict[str, Any] = msgspec.field(default_factory=dict)
    state: dict[str, Any] = msgspec.field(default_factory=dict)  # snapshot at run start


# ---- results ------------------------------------------------------------------------------


class _Result(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """Base of every result. `author` and `branch` are set by composed agents (see
    engine/composition): the sub-agent that produced the result and its path in the agent
    tree ("pipeline.writer"). The runner copies them onto the event; when unset the author is
    the top agent's manifest name."""

    author: str | None = None
    branch: str | None = None


class MessageDelta(_Result, frozen=True, tag="message.delta"):
    text: str


class MessageCompleted(_Result, frozen=True, tag="message.completed"):
    message: Message
    usage: Usage | None = None
    model: str | None = None
    incomplete: bool = False  # the reply was cut off: what had been streamed before the cut


class ToolCallStarted(_Result, frozen=True, tag="tool.call.started"):
    tool_call_id: str
    tool_name: str
    parameters: str  # JSON text


class ToolCallCompleted(_Result, frozen=True, tag="tool.call.completed"):
    """A tool's result. `message` is its tool-role message when the agent already made it
    (LLMAgent does, with `ToolCallCompleted.of`): the runner stores that same object, so the
    message the model sees next and the one in the session are one (a model client's wire
    cache hits). Without it the runner makes the message from the other fields."""

    tool_call_id: str
    tool_name: str
    result: str
    error: str | None = None
    message: Message | None = None

    @classmethod
    def of(
        cls, tool_call_id: str, tool_name: str, result: str, *, error: bool = False
    ) -> ToolCallCompleted:
        """A result with its message made once."""
        part = ToolResultPart(
            tool_call_id=tool_call_id, name=tool_name, content=result, is_error=error
        )
        return cls(
            tool_call_id=tool_call_id,
            tool_name=tool_name,
            result=result,
            error=result if error else None,
            message=Message.tool(part),
        )

    def tool_message(self) -> Message:
        """The tool-role message of this result (its own, or a new one)."""
        if self.message is not None:
            return self.message
        part = ToolResultPart(
            tool_call_id=self.tool_call_id,
            name=self.tool_name,
            content=self.result,
            is_error=self.error is not None,
        )
        return Message.tool(part)


class StateUpdated(_Result, frozen=True, tag="state.updated"):
    scope: Scope
    key: str
    value: Any = None  # None deletes


class ApprovalRequested(_Result, frozen=True, tag="approval.requested"):
    """A tool call that waits for a person's answer (core/approvals.py). An agent yields it
    with the call's turn, then ends the run with `RunCompleted(finish_reason=
    "approval_required")`: the run is stored as paused."""

    approval_id: str
    tool_call_id: str
    tool_name: str
    arguments: str  # JSON text, as the model produced it


class KnowledgeRetrieved(_Result, frozen=True, tag="knowledge.retrieved"):
    """What a retrieval found, so a client can show the sources: `citations` are
    `{kb, document, chunk, id, score}` (chunk = the chunk's index in its document); `mode` is
    `context` (added before the turn) or `tool` (the model called the search tool); `notice`
    says what failed when the retrieval fell back (an embedding or rerank endpoint down)."""

    query: str
    mode: str = "context"
    citations: list[dict[str, Any]] = msgspec.field(default_factory=list)
    notice: str | None = None


class CompactionSummary(_Result, frozen=True, tag="compaction.summary"):
    """Older events of the session summarised for the model (engine/compaction.py): from
    now on the model-facing history is this summary followed by the events after `end_seq`.
    It covers the events `start_seq`..`end_seq`, which stay stored and readable."""

    summary: str
    start_seq: int
    end_seq: int
    model: str | None = None
    usage: Usage | None = None
    tokens_before: int = 0  # the request's tokens without the summary
    tokens_after: int = 0  # and with it


class CompactionFailed(_Result, frozen=True, tag="compaction.failed"):
    """The summariser failed: the turn went on with the uncompacted history (cut to the
    budget when it was over)."""

    error: str
    code: str = "runner.error"
    tokens_before: int = 0
    tokens_after: int = 0


class RunCompleted(_Result, frozen=True, tag="run.completed"):
    """The run's successful end. A `message` here is the run's last answer, not streamed as a
    message.completed before: `final()` is that message.completed (the one rule for it)."""

    finish_reason: str = "stop"
    message: Message | None = None
    usage: Usage | None = None

    def final(self, usage: Usage | None = None) -> MessageCompleted | None:
        """The message.completed this result stands for (None without a message)."""
        if self.message is None:
            return None
        return MessageCompleted(
            message=self.message, usage=usage, author=self.author, branch=self.branch
        )


class RunFailed(_Result, frozen=True, tag="run.failed"):
    error: str
    code: str = "runner.error"
    retryable: bool = False


RunResult = (
    MessageDelta
    | MessageCompleted
    | ToolCallStarted
    | ToolCallCompleted
    | StateUpdated
    | ApprovalRequested
    | KnowledgeRetrieved
    | CompactionSummary
    | CompactionFailed
    | RunCompleted
    | RunFailed
)


def is_terminal(result: RunResult) -> bool:
    """True for the results that end a run (run.completed, run.failed)."""
    kind = type(result)
    return kind is RunCompleted or kind is RunFailed


def batch_ends_run(batch: ResultBatch) -> bool:
    """True when a result or batch holds a terminal result."""
    if isinstance(batch, list):
        return any(type(r) is RunCompleted or type(r) is RunFailed for r in batch)
    return is_terminal(batch)


# ---- manifest -----------------------------------------------------------------------------


class Capabilities(Struct):
    streaming: bool = True
    tool_calling: bool = False
    knowledge_retrieval: bool = False
    multimodal_input: bool = False
    event_context: bool = True
    stateful_session: bool = False
    interrupt: bool = True


class Permissions(Struct):
    models: bool = False
    tools: bool = False
    knowledge_bases: bool = False
    history: list[Literal["page", "search"]] = msgspec.field(default_factory=list)
    events: list[Literal["get", "page"]] = msgspec.field(default_factory=list)
    state: list[Scope] = msgspec.field(default_factory=list)
    storage: bool = False
    artifacts: bool = False
    memory: bool = False


class Manifest(Struct):
    id: str
    name: str
    description: str = ""
    protocol_version: str = PROTOCOL_VERSION
    capabilities: Capabilities = msgspec.field(default_factory=Capabilities)
    permissions: Permissions = msgspec.field(default_factory=Permissions)
    config_schema: dict[str, Any] = msgspec.field(default_factory=dict)


# ---- host API -----------------------------------------------------------------------------


class HistoryPage(Struct):
    events: list[Event]
    next_cursor: int | None = None  # pass as `before` for the next (older) page


class ModelsAPI(Protocol):
    """The models granted to the run (operations `invoke` and `stream`)."""

    async def invoke(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse: ...

    def stream(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]: ...


class ToolsAPI(Protocol):
    """The tools granted to the run (operations `detail` and `call`)."""

    async def detail(self, tool_name: str) -> ToolSpec: ...

    async def call(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput: ...


class KnowledgeAPI(Protocol):
    """The knowledge bases granted to the run."""

    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]: ...


class HistoryAPI(Protocol):
    """The session's history: model-facing messages, pages of events, search."""

    async def messages(self) -> list[Message]: ...

    async def page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage: ...

    async def search(self, query: str, *, limit: int = 20) -> list[Event]: ...

    async def event(self, event_id: str) -> Event: ...

    async def events(self, *, after: int = 0, limit: int = 50) -> HistoryPage: ...


class StateAPI(Protocol):
    """State in the scopes granted to the run (`app`, `user`, `session`, `temp`)."""

    async def get(self, scope: Scope, key: str) -> Any: ...

    async def set(self, scope: Scope, key: str, value: Any) -> None: ...

    async def delete(self, scope: Scope, key: str) -> None: ...


class StorageAPI(Protocol):
    """The agent's own key-value namespace."""

    async def get(self, key: str) -> Any: ...

    async def set(self, key: str, value: Any) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self) -> list[str]: ...


class ArtifactsAPI(Protocol):
    """Versioned files of the run's session (and of its user: names starting `user:`)."""

    async def save(
        self,
        name: str,
        data: bytes,
        *,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactInfo: ...

    async def load(self, name: str, *, version: int | None = None) -> Artifact | None: ...

    async def list(self) -> list[ArtifactInfo]: ...

    async def versions(self, name: str) -> builtins.list[ArtifactInfo]: ...

    async def delete(self, name: str) -> bool: ...


class MemoryAPI(Protocol):
    """The long-term memory of the run's user: no call names a user, so a run only ever
    reaches its own user's memories."""

    async def search(self, query: str, *, top_k: int = 3) -> list[Chunk]: ...

    async def add(self, text: str, *, metadata: dict[str, Any] | None = None) -> str: ...

    async def list(self) -> list[MemoryInfo]: ...

    async def delete(self, memory_id: str) -> bool: ...


@runtime_checkable
class HostAPI(Protocol):
    """What an agent may call during its run: one capability object per kind of resource.

    `host.models.stream(...)`, `host.tools.call(...)`, `host.knowledge.retrieve(...)`,
    `host.history.messages()`, `host.state.get(...)`, `host.storage.get(...)`. A host is bound
    to one run (`run_id`): no call names a run, so a run can only ever act on itself. Every
    call is checked against that run's resources and deadline (in one place, the engine's
    `Gate`) and refused with `HostAPIError(code)`: unauthorized, not_found,
    deadline_exceeded, payload_too_large, rate_limited, invalid_argument or runtime_error.

    Hosts that change one capability (a sub-agent's own history, a router's extra tools)
    are the parent's `Host` with that capability replaced (`Host.replace`).
    `host.artifacts` (save, load, list, versions, delete) holds the session's files; it is
    None on hosts that have no artifact store. `host.memory` (search, add, list, delete) is
    the run's user's long-term memory; None on hosts without a memory store."""

    @property
    def run_id(self) -> str: ...

    @property
    def models(self) -> ModelsAPI: ...

    @property
    def tools(self) -> ToolsAPI: ...

    @property
    def knowledge(self) -> KnowledgeAPI: ...

    @property
    def history(self) -> HistoryAPI: ...

    @property
    def state(self) -> StateAPI: ...

    @property
    def storage(self) -> StorageAPI: ...

    @property
    def artifacts(self) -> ArtifactsAPI | None: ...

    @property
    def memory(self) -> MemoryAPI | None: ...


class Host:
    """A HostAPI composed of capability objects. `replace(history=...)` makes a host that
    differs in one capability and delegates the rest.

    The flat method names of the first HostAPI (`invoke_model`, `call_tool`, `state_get`,
    ...) still work on it and delegate to the capabilities; they are deprecated."""

    __slots__ = (
        "artifacts",
        "history",
        "knowledge",
        "memory",
        "models",
        "run_id",
        "state",
        "storage",
        "tools",
    )

    def __init__(
        self,
        run_id: str,
        *,
        models: ModelsAPI,
        tools: ToolsAPI,
        knowledge: KnowledgeAPI,
        history: HistoryAPI,
        state: StateAPI,
        storage: StorageAPI,
        artifacts: ArtifactsAPI | None = None,
        memory: MemoryAPI | None = None,
    ) -> None:
        self.run_id = run_id
        self.artifacts = artifacts
        self.memory = memory
        self.models = models
        self.tools = tools
        self.knowledge = knowledge
        self.history = history
        self.state = state
        self.storage = storage

    @classmethod
    def of(cls, host: HostAPI, **changes: Any) -> Host:
        """A host like `host` with the capabilities in `changes` replaced."""
        caps: dict[str, Any] = {name: getattr(host, name, None) for name in _CAPABILITIES}
        caps.update(changes)
        return cls(host.run_id, **caps)

    def replace(self, **changes: Any) -> Host:
        return Host.of(self, **changes)

    # ---- deprecated flat names (the first HostAPI) ----------------------------------------

    async def invoke_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        return await self.models.invoke(model_id, messages, tools=tools, settings=settings)

    def stream_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        return self.models.stream(model_id, messages, tools=tools, settings=settings)

    async def tool_detail(self, tool_name: str) -> ToolSpec:
        return await self.tools.detail(tool_name)

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput:
        return await self.tools.call(tool_name, arguments, timeout=timeout)

    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]:
        return await self.knowledge.retrieve(kb_id, query, top_k=top_k, filters=filters)

    async def history_messages(self) -> list[Message]:
        return await self.history.messages()

    async def history_page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage:
        return await self.history.page(before=before, limit=limit)

    async def history_search(self, query: str, *, limit: int = 20) -> list[Event]:
        return await self.history.search(query, limit=limit)

    async def event_get(self, event_id: str) -> Event:
        return await self.history.event(event_id)

    async def event_page(self, *, after: int = 0, limit: int = 50) -> HistoryPage:
        return await self.history.events(after=after, limit=limit)

    async def state_get(self, scope: Scope, key: str) -> Any:
        return await self.state.get(scope, key)

    async def state_set(self, scope: Scope, key: str, value: Any) -> None:
        await self.state.set(scope, key, value)

    async def state_delete(self, scope: Scope, key: str) -> None:
        await self.state.delete(scope, key)

    async def storage_get(self, key: str) -> Any:
        return await self.storage.get(key)

    async def storage_set(self, key: str, value: Any) -> None:
        await self.storage.set(key, value)

    async def storage_delete(self, key: str) -> None:
        await self.storage.delete(key)

    async def storage_list(self) -> list[str]:
        return await self.storage.keys()


_CAPABILITIES = (
    "models",
    "tools",
    "knowledge",
    "history",
    "state",
    "storage",
    "artifacts",
    "memory",
)


ResultBatch = RunResult | list[RunResult]


@runtime_checkable
class Agent(Protocol):
    """Anything that speaks agent protocol v1.

    `run` yields results one at a time, or as a list: a batch whose events the runner stores
    in one transaction before yielding them (an optimisation for agents that produce several
    finished results at once, such as a model reply followed by its tool calls)."""

    @property
    def manifest(self) -> Manifest: ...

    def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]: ...


__all__ = [
    "PROTOCOL_VERSION",
    "Agent",
    "ArtifactOp",
    "ArtifactsAPI",
    "ArtifactsResource",
    "Attachment",
    "Capabilities",
    "CompactionFailed",
    "CompactionSummary",
    "ContextSection",
    "DeliverySection",
    "ErrorInfo",
    "EventSection",
    "EventSource",
    "HistoryAPI",
    "HistoryPage",
    "Host",
    "HostAPI",
    "InputSection",
    "KnowledgeAPI",
    "KnowledgeResource",
    "KnowledgeRetrieved",
    "Manifest",
    "MemoryAPI",
    "MemoryOp",
    "MemoryResource",
    "MessageCompleted",
    "MessageDelta",
    "ModelResource",
    "ModelsAPI",
    "Permissions",
    "Resources",
    "ResultBatch",
    "RunCompleted",
    "RunContext",
    "RunFailed",
    "RunResult",
    "RuntimeSection",
    "StateAPI",
    "StateResource",
    "StateUpdated",
    "StorageAPI",
    "StorageResource",
    "ToolCallCompleted",
    "ToolCallStarted",
    "ToolResource",
    "ToolsAPI",
    "batch_ends_run",
    "is_terminal",
]
