"""Agent protocol v1 over JSON-RPC 2.0: the frames between the host and a plugin process.

Shared by the plugin SDK (`agenthost.plugin`, the plugin's side) and `PluginAgent`
(`agenthost.backends.plugins`, the host's side); docs/plugin-protocol.md is the spec in
prose. One JSON-RPC message per line (newline-delimited JSON, UTF-8). Every shape is a msgspec
Struct from ports.protocol, so both sides encode with msgspec and decode into typed structs.

host -> plugin requests:   initialize, agent.run, agent.cancel, shutdown
plugin -> host notices:    agent.result {run_id, sequence, result}
plugin -> host requests:   host.<method> {run_id, ...}  (the HostAPI of that run)
host -> plugin notices:    host.stream_event {request_id, event}  (for host.stream_model)
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

import msgspec

from agenthost.core.errors import HostAPIError, HostErrorCode
from agenthost.core.messages import Message
from agenthost.core.state import Scope
from agenthost.ports.models import ModelSettings, StreamEvent, ToolSpec
from agenthost.ports.protocol import Manifest, RunContext, RunResult

JSONRPC: Final = "2.0"
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024

# ---- envelope ------------------------------------------------------------------------------

Id = int | str


class RpcError(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Frame(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Any JSON-RPC message; `params` and `result` stay raw until the method is known.

    A request has `method` and `id`, a notification `method` only, a response `id` and
    `result` or `error`."""

    jsonrpc: Literal["2.0"]
    id: Id | msgspec.UnsetType | None = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: RpcError | msgspec.UnsetType = msgspec.UNSET

    @property
    def is_request(self) -> bool:
        return isinstance(self.method, str) and self.id is not msgspec.UNSET

    @property
    def is_notification(self) -> bool:
        return isinstance(self.method, str) and self.id is msgspec.UNSET

    @property
    def is_response(self) -> bool:
        return self.method is msgspec.UNSET and self.id is not msgspec.UNSET


class ProtocolError(ValueError):
    """A frame that breaks the protocol (not JSON, not JSON-RPC, bad params)."""


_encoder = msgspec.json.Encoder()
_frame_decoder = msgspec.json.Decoder(Frame)


def decode_frame(line: bytes | str) -> Frame:
    try:
        return _frame_decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not a JSON-RPC 2.0 message: {exc}") from exc


def decode_params(frame: Frame, type_: type[Any]) -> Any:
    raw = frame.params if not isinstance(frame.params, msgspec.UnsetType) else b"{}"
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad params for {frame.method}: {exc}") from exc


def decode_result(frame: Frame, type_: Any) -> Any:
    raw = frame.result if not isinstance(frame.result, msgspec.UnsetType) else b"null"
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"bad result for request {frame.id!r}: {exc}") from exc


def request(id: Id, method: str, params: Any) -> bytes:
    return (
        _encoder.encode({"jsonrpc": JSONRPC, "id": id, "method": method, "params": params}) + b"\n"
    )


def notification(method: str, params: Any) -> bytes:
    return _encoder.encode({"jsonrpc": JSONRPC, "method": method, "params": params}) + b"\n"


def response(id: Id | None, result: Any) -> bytes:
    return _encoder.encode({"jsonrpc": JSONRPC, "id": id, "result": result}) + b"\n"


def error_response(id: Id | None, error: RpcError) -> bytes:
    return _encoder.encode({"jsonrpc": JSONRPC, "id": id, "error": error}) + b"\n"


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


# ---- errors --------------------------------------------------------------------------------

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

# host API refusals: JSON-RPC code, and the protocol's string code in error.data.code
HOST_ERROR_CODES: Final[dict[str, int]] = {
    "unauthorized": -32001,
    "not_found": -32002,
    "deadline_exceeded": -32003,
    "payload_too_large": -32004,
    "rate_limited": -32005,
    "invalid_argument": -32006,
    "runtime_error": -32007,
}


class ErrorData(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: HostErrorCode = "runtime_error"
    retryable: bool = False
    details: dict[str, Any] = msgspec.field(default_factory=dict)


def host_error(exc: HostAPIError) -> RpcError:
    code: HostErrorCode = exc.code if exc.code in HOST_ERROR_CODES else "runtime_error"  # type: ignore[assignment]
    return RpcError(
        code=HOST_ERROR_CODES[code],
        message=exc.message,
        data=ErrorData(code=code, retryable=exc.retryable, details=exc.details),
    )


def host_api_error(error: RpcError) -> HostAPIError:
    """The HostAPIError an error response stands for (runtime_error when it names none)."""
    try:
        data = msgspec.convert(error.data or {}, ErrorData)
    except msgspec.ValidationError:
        data = ErrorData()
    return HostAPIError(data.code, error.message, retryable=data.retryable, details=data.details)


# ---- lifecycle -----------------------------------------------------------------------------


class HostInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str = "agenthost"
    version: str = ""


class InitializeParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    protocol_version: str
    host: HostInfo = msgspec.field(default_factory=HostInfo)


class InitializeResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    protocol_version: str
    manifest: Manifest


class RunParams(msgspec.Struct, kw_only=True):
    context: RunContext


class RunDone(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The response to agent.run, after the run's last agent.result."""

    run_id: str
    status: Literal["completed", "failed", "cancelled"]
    results: int = 0  # how many agent.result notifications were sent


class ResultParams(msgspec.Struct, kw_only=True):
    run_id: str
    sequence: int  # 1, 2, 3, ... per run
    result: RunResult | list[RunResult]


class _LooseResults(msgspec.Struct, kw_only=True):
    run_id: str
    sequence: int
    result: dict[str, Any] | list[dict[str, Any]]


RESULT_TYPES: Final = frozenset(t.__struct_config__.tag for t in get_args(RunResult))


def decode_results(frame: Frame) -> ResultParams:
    """An `agent.result`'s params. Results of a type this host does not know are dropped (a
    newer plugin may send them); a known result that is malformed is a ProtocolError."""
    try:
        params: ResultParams = decode_params(frame, ResultParams)
        return params
    except ProtocolError as error:
        loose: _LooseResults = decode_params(frame, _LooseResults)
        items = loose.result if isinstance(loose.result, list) else [loose.result]
        known = [i for i in items if i.get("type") in RESULT_TYPES]
        if len(known) == len(items):
            raise error
        try:
            results = msgspec.convert(known, list[RunResult])
        except msgspec.ValidationError as exc:
            raise ProtocolError(f"bad params for agent.result: {exc}") from exc
        return ResultParams(run_id=loose.run_id, sequence=loose.sequence, result=list(results))


class RunRef(msgspec.Struct, kw_only=True):
    """Just the run id of any params that carry one (for routing)."""

    run_id: str


class CancelResult(msgspec.Struct, kw_only=True):
    cancelled: bool


class StreamEventParams(msgspec.Struct, kw_only=True):
    request_id: Id
    event: StreamEvent


# ---- host API params (every call names its run) --------------------------------------------


class _HostParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    run_id: str


class ModelParams(_HostParams, kw_only=True):
    model_id: str
    messages: list[Message]
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    settings: ModelSettings | None = None


class ToolNameParams(_HostParams, kw_only=True):
    tool_name: str


class CallToolParams(_HostParams, kw_only=True):
    tool_name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout: float | None = None


class RetrieveParams(_HostParams, kw_only=True):
    kb_id: str
    query: str
    top_k: int = 5
    filters: dict[str, Any] | None = None


class RunOnlyParams(_HostParams, kw_only=True):
    pass


class HistoryPageParams(_HostParams, kw_only=True):
    before: int | None = None
    limit: int = 50


class SearchParams(_HostParams, kw_only=True):
    query: str
    limit: int = 20


class EventGetParams(_HostParams, kw_only=True):
    event_id: str


class EventPageParams(_HostParams, kw_only=True):
    after: int = 0
    limit: int = 50


class StateKeyParams(_HostParams, kw_only=True):
    scope: Scope
    key: str


class StateSetParams(_HostParams, kw_only=True):
    scope: Scope
    key: str
    value: Any = None


class StorageKeyParams(_HostParams, kw_only=True):
    key: str


class StorageSetParams(_HostParams, kw_only=True):
    key: str
    value: Any = None


class ArtifactSaveParams(_HostParams, kw_only=True):
    name: str
    data: bytes  # base64 in JSON
    mime_type: str = "application/octet-stream"
    metadata: dict[str, Any] | None = None


class ArtifactNameParams(_HostParams, kw_only=True):
    name: str


class ArtifactLoadParams(_HostParams, kw_only=True):
    name: str
    version: int | None = None


class MemorySearchParams(_HostParams, kw_only=True):
    query: str
    top_k: int = 3


class MemoryAddParams(_HostParams, kw_only=True):
    text: str
    metadata: dict[str, Any] | None = None


class MemoryIdParams(_HostParams, kw_only=True):
    memory_id: str


# method -> its params struct (results: see HostAPI in ports.protocol)
HOST_METHODS: Final[dict[str, type[_HostParams]]] = {
    "host.invoke_model": ModelParams,
    "host.stream_model": ModelParams,
    "host.tool_detail": ToolNameParams,
    "host.call_tool": CallToolParams,
    "host.retrieve": RetrieveParams,
    "host.history_messages": RunOnlyParams,
    "host.history_page": HistoryPageParams,
    "host.history_search": SearchParams,
    "host.event_get": EventGetParams,
    "host.event_page": EventPageParams,
    "host.state_get": StateKeyParams,
    "host.state_set": StateSetParams,
    "host.state_delete": StateKeyParams,
    "host.storage_get": StorageKeyParams,
    "host.storage_set": StorageSetParams,
    "host.storage_delete": StorageKeyParams,
    "host.storage_list": RunOnlyParams,
    "host.artifacts_save": ArtifactSaveParams,
    "host.artifacts_load": ArtifactLoadParams,
    "host.artifacts_list": RunOnlyParams,
    "host.artifacts_versions": ArtifactNameParams,
    "host.artifacts_delete": ArtifactNameParams,
    "host.memory_search": MemorySearchParams,
    "host.memory_add": MemoryAddParams,
    "host.memory_list": RunOnlyParams,
    "host.memory_delete": MemoryIdParams,
}
