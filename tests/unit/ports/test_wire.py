"""The JSON-RPC binding of agent protocol v1: frames, params, errors, and the documented
transcript (every line of it decodes into the structs both sides use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from agenthost.core.errors import HostAPIError
from agenthost.core.events import Event
from agenthost.core.messages import Message
from agenthost.ports import wire
from agenthost.ports.artifacts import Artifact, ArtifactInfo
from agenthost.ports.knowledge import Chunk, MemoryInfo
from agenthost.ports.models import ModelResponse, ToolSpec
from agenthost.ports.protocol import HistoryPage, MessageCompleted, RunCompleted
from agenthost.ports.tools import ToolOutput

TRANSCRIPT = Path(__file__).resolve().parents[3] / "examples" / "plugins" / "transcript.ndjson"

REQUESTS: dict[str, type[Any]] = {
    "initialize": wire.InitializeParams,
    "agent.run": wire.RunParams,
    "agent.cancel": wire.RunRef,
    **wire.HOST_METHODS,
}
RESULTS: dict[str, Any] = {
    "initialize": wire.InitializeResult,
    "agent.run": wire.RunDone,
    "agent.cancel": wire.CancelResult,
    "shutdown": None,
    "host.invoke_model": ModelResponse,
    "host.stream_model": None,
    "host.tool_detail": ToolSpec,
    "host.call_tool": ToolOutput,
    "host.retrieve": list[Chunk],
    "host.history_messages": list[Message],
    "host.history_page": HistoryPage,
    "host.history_search": list[Event],
    "host.event_get": Event,
    "host.event_page": HistoryPage,
    "host.state_get": Any,
    "host.state_set": None,
    "host.state_delete": None,
    "host.storage_get": Any,
    "host.storage_set": None,
    "host.storage_delete": None,
    "host.storage_list": list[str],
    "host.artifacts_save": ArtifactInfo,
    "host.artifacts_load": Artifact | None,
    "host.artifacts_list": list[ArtifactInfo],
    "host.artifacts_versions": list[ArtifactInfo],
    "host.artifacts_delete": bool,
    "host.memory_search": list[Chunk],
    "host.memory_add": str,
    "host.memory_list": list[MemoryInfo],
    "host.memory_delete": bool,
}
NOTIFICATIONS: dict[str, type[Any]] = {
    "agent.result": wire.ResultParams,
    "host.stream_event": wire.StreamEventParams,
}


def test_the_documented_transcript_is_valid() -> None:
    pending: list[tuple[Any, str]] = []  # (id, method), newest last
    seen: set[str] = set()
    for line in TRANSCRIPT.read_text().splitlines():
        frame = wire.decode_frame(line)
        if frame.is_request:
            assert isinstance(frame.method, str)
            if frame.method != "shutdown":
                wire.decode_params(frame, REQUESTS[frame.method])
            pending.append((frame.id, frame.method))
            seen.add(frame.method)
        elif frame.is_notification:
            assert isinstance(frame.method, str)
            wire.decode_params(frame, NOTIFICATIONS[frame.method])
            seen.add(frame.method)
        else:
            assert frame.is_response
            index = max(i for i, (id_, _) in enumerate(pending) if id_ == frame.id)
            _, method = pending.pop(index)
            if isinstance(frame.error, msgspec.UnsetType):
                wire.decode_result(frame, RESULTS[method])
            else:
                assert wire.host_api_error(frame.error).code == "unauthorized"
    assert pending == []
    assert {"initialize", "agent.run", "agent.cancel", "shutdown", "agent.result"} <= seen


def test_frames_encode_and_decode() -> None:
    line = wire.request(7, "agent.cancel", wire.RunRef(run_id="r"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    frame = wire.decode_frame(line)
    assert frame.is_request and frame.id == 7
    assert wire.decode_params(frame, wire.RunRef).run_id == "r"
    note = wire.decode_frame(
        wire.notification(
            "agent.result",
            {"run_id": "r", "sequence": 1, "result": [MessageCompleted(message=Message.user("x"))]},
        )
    )
    assert note.is_notification
    params = wire.decode_params(note, wire.ResultParams)
    assert params.result == [MessageCompleted(message=Message.user("x"))]
    reply = wire.decode_frame(wire.response(7, None))
    assert reply.is_response and wire.decode_result(reply, Any) is None


@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1, 2]", b'{"id": 1, "method": "x"}', b'{"jsonrpc": "1.0", "id": 1}'],
)
def test_malformed_frames_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.decode_frame(line)


def test_bad_params_are_protocol_errors() -> None:
    frame = wire.decode_frame(b'{"jsonrpc": "2.0", "method": "agent.result", "params": {}}')
    with pytest.raises(wire.ProtocolError, match=r"agent\.result"):
        wire.decode_params(frame, wire.ResultParams)


def test_a_host_refusal_round_trips() -> None:
    refusal = HostAPIError("payload_too_large", "too big", retryable=True, details={"n": 1})
    error = wire.host_error(refusal)
    assert error.code == -32004
    encoded = wire.decode_frame(wire.error_response(3, error))
    assert not isinstance(encoded.error, msgspec.UnsetType)
    back = wire.host_api_error(encoded.error)
    assert (back.code, back.message, back.retryable, back.details) == (
        "payload_too_large",
        "too big",
        True,
        {"n": 1},
    )
    # an error that names no protocol code is a runtime_error
    plain = wire.host_api_error(wire.RpcError(code=-32603, message="oops"))
    assert plain.code == "runtime_error"


def test_every_result_type_goes_over_the_wire() -> None:
    done = RunCompleted(finish_reason="stop", author="writer", branch="chain.writer")
    frame = wire.decode_frame(
        wire.notification("agent.result", {"run_id": "r", "sequence": 1, "result": done})
    )
    assert wire.decode_params(frame, wire.ResultParams).result == done


def test_unknown_result_types_are_dropped_known_malformed_ones_are_errors() -> None:
    def frame(result: object) -> wire.Frame:
        body = {"run_id": "r", "sequence": 1, "result": result}
        return wire.decode_frame(wire.notification("agent.result", body))

    future = {"type": "action.requested", "action": "wave"}
    delta = {"type": "message.delta", "text": "hi"}
    assert [type(r).__name__ for r in wire.decode_results(frame([future, delta])).result] == [
        "MessageDelta"
    ]
    assert wire.decode_results(frame(future)).result == []
    with pytest.raises(wire.ProtocolError):
        wire.decode_results(frame([future, {"type": "message.completed"}]))
    with pytest.raises(wire.ProtocolError):
        wire.decode_results(frame({"type": "message.delta"}))
