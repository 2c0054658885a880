"""OTLP over gRPC: `agenthost serve` with OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports its spans
to a gRPC OTLP trace receiver here (grpcio with opentelemetry-proto's TraceService), in the
caller's trace, with the same spans and attributes as over OTLP/HTTP (test_otlp.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .test_otlp import (
    CALLER_SPAN,
    Spans,
    _complete,
    _reaches,
    _run_tree,
    _script,
    assistant_config,
    otel_env,
    post_run,
    serve,
)
from .test_otlp import model as model  # the fake model server fixture

pytestmark = pytest.mark.integration


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, spans: Spans) -> None:
        self.spans = spans
        self.metadata: list[dict[str, str]] = []

    def Export(  # the gRPC method's name
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        self.metadata.append(dict(context.invocation_metadata()))
        self.spans.add(request.SerializeToString())
        return ExportTraceServiceResponse()


class GrpcReceiver:
    """An OTLP/gRPC trace receiver on 127.0.0.1 (its spans: `spans`, as test_otlp's)."""

    def __init__(self) -> None:
        self.spans = Spans()
        self.service = _TraceService(self.spans)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self.service, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def receiver() -> Iterator[GrpcReceiver]:
    receiver = GrpcReceiver()
    receiver.server.start()
    yield receiver
    receiver.server.stop(grace=None).wait()


def test_spans_are_exported_over_grpc(receiver: GrpcReceiver, model: Any, tmp_path: Path) -> None:
    _script(model)
    config = assistant_config(tmp_path)
    trace_id = "6bf92f3577b34da6a3ce929d0e0e4738"
    env = otel_env(
        receiver.endpoint,
        "agenthost-grpc",
        model,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_HEADERS="x-tenant=test",
    )
    with serve(config, env) as url:
        post_run(url, "assistant", "What is 6 * 7?", trace_id)
        spans = receiver.spans.wait_for(_complete(trace_id))
    tree = _run_tree(spans, trace_id)
    (run,) = tree["agenthost run assistant"]
    (agent,) = tree["invoke_agent assistant"]
    (tool,) = tree["execute_tool calculator"]
    assert _reaches(run, CALLER_SPAN, tree)
    assert agent.parent_id == run.span_id and tool.parent_id == agent.span_id
    assert run.resource["service.name"] == "agenthost-grpc"
    assert agent.attributes["gen_ai.usage.input_tokens"] == 250
    assert {c.attributes["gen_ai.usage.output_tokens"] for c in tree["chat gpt-4o-mini"]} == {
        20,
        10,
    }
    # it came over gRPC (the exporter's user agent) with the configured headers
    (first, *_) = receiver.service.metadata
    assert first["x-tenant"] == "test"
    assert "grpc" in first.get("user-agent", "").lower()
