"""Agent protocol v1: what an agent receives, what it streams back, and what it may call.

After LangBot's AgentRunner Protocol v1. An agent is anything with a `manifest` and a
`run(ctx, host)` async iterator of results. The same shapes go over JSON-RPC to plugin agents in
another process, so everything here is a msgspec Struct that encodes to plain JSON.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from agenthost.core.events import ErrorInfo, Event
from agenthost.core.messages import Message
from agenthost.core.state import Scope
from agenthost.core.usage import Usage
from agenthost.ports.knowledge import Chunk
from agenthost.ports.models import ModelResponse, ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.tools import ToolOutput

PROTOCOL_VERSION = "1"

# ---- run context --------------------------------------------------------------------------

ModelOp = Literal["invoke", "stream", "count_tokens"]
ToolOp = Literal["detail", "call"]
KnowledgeOp = Literal["list", "retrieve"]
StorageOp = Literal["get", "set", "delete", "list"]


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


class Resources(Struct):
    models: list[ModelResource] = msgspec.field(default_factory=list)
    tools: list[ToolResource] = msgspec.field(default_factory=list)
    knowledge_bases: list[KnowledgeResource] = msgspec.field(default_factory=list)
    state: StateResource = msgspec.field(default_factory=StateResource)
    storage: StorageResource | None = None


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
    tool_call_id: str
    tool_name: str
    result: str
    error: str | None = None


class StateUpdated(_Result, frozen=True, tag="state.updated"):
    scope: Scope
    key: str
    value: Any = None  # None deletes


class RunCompleted(_Result, frozen=True, tag="run.completed"):
    finish_reason: str = "stop"
    message: Message | None = None
    usage: Usage | None = None


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
    | RunCompleted
    | RunFailed
)

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


@runtime_checkable
class HostAPI(Protocol):
    """What an agent may call during its run. Bound to one run id; every call is checked
    against that run's resources and deadline, and refused with `HostAPIError(code)`:
    unauthorized, not_found, deadline_exceeded, payload_too_large, rate_limited,
    invalid_argument or runtime_error."""

    @property
    def run_id(self) -> str: ...

    # models
    async def invoke_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse: ...

    def stream_model(
        self,
        model_id: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[StreamEvent]: ...

    # tools
    async def tool_detail(self, tool_name: str) -> ToolSpec: ...

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutput: ...

    # knowledge
    async def retrieve(
        self, kb_id: str, query: str, *, top_k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Chunk]: ...

    # history and events
    async def history_messages(self) -> list[Message]: ...

    async def history_page(self, *, before: int | None = None, limit: int = 50) -> HistoryPage: ...

    async def history_search(self, query: str, *, limit: int = 20) -> list[Event]: ...

    async def event_get(self, event_id: str) -> Event: ...

    async def event_page(self, *, after: int = 0, limit: int = 50) -> HistoryPage: ...

    # state
    async def state_get(self, scope: Scope, key: str) -> Any: ...

    async def state_set(self, scope: Scope, key: str, value: Any) -> None: ...

    async def state_delete(self, scope: Scope, key: str) -> None: ...

    # storage
    async def storage_get(self, key: str) -> Any: ...

    async def storage_set(self, key: str, value: Any) -> None: ...

    async def storage_delete(self, key: str) -> None: ...

    async def storage_list(self) -> list[str]: ...


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
    "Attachment",
    "Capabilities",
    "ContextSection",
    "DeliverySection",
    "ErrorInfo",
    "EventSection",
    "EventSource",
    "HistoryPage",
    "HostAPI",
    "InputSection",
    "KnowledgeResource",
    "Manifest",
    "MessageCompleted",
    "MessageDelta",
    "ModelResource",
    "Permissions",
    "Resources",
    "ResultBatch",
    "RunCompleted",
    "RunContext",
    "RunFailed",
    "RunResult",
    "RuntimeSection",
    "StateResource",
    "StateUpdated",
    "StorageResource",
    "ToolCallCompleted",
    "ToolCallStarted",
    "ToolResource",
]
