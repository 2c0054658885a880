"""Set up OpenTelemetry's SDK from the standard environment variables (or in code).

`engine.tracing` calls `configure_from_env()` once, at its first span, when the application
has installed no tracer provider of its own. It installs one when the environment asks for
export:

    OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   where to send spans
    OTEL_TRACES_EXPORTER          otlp (the default once an endpoint is set), console, none
    OTEL_EXPORTER_OTLP_PROTOCOL   http/protobuf (default) or grpc
    OTEL_SERVICE_NAME             the service name (default: agenthost)
    OTEL_SDK_DISABLED=true        no tracing whatever else is set

plus everything the SDK reads itself (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_BSP_SCHEDULE_DELAY, ...). Spans leave in batches; what is pending is flushed when the
process exits. Needs the `otel` extra (`pip install 'agenthost[otel]'`); for gRPC the
`otel-grpc` extra (`opentelemetry-exporter-otlp-proto-grpc`). Without them tracing stays off,
with one warning naming the extra.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("agenthost.otel")

_EXTRA = "pip install 'agenthost[otel]'"
_EXTRA_GRPC = "pip install 'agenthost[otel-grpc]' (OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"


def _exporters(env: Mapping[str, str]) -> list[str]:
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if not raw:
        return ["otlp"] if endpoint else []
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [n for n in names if n != "none"]


def configure_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Install a tracer provider when the environment asks for export; True if it did."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporters(env)
    if not exporters:
        return False
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    try:
        configure(exporters=exporters, protocol=protocol, env=env)
    except ImportError as exc:
        log.warning(
            "OpenTelemetry export is configured (OTEL_TRACES_EXPORTER=%s) but %s is not "
            "installed: tracing is off. Install it: %s",
            ",".join(exporters),
            exc.name,
            _EXTRA_GRPC if protocol == "grpc" else _EXTRA,
        )
        return False
    except ValueError as exc:
        log.warning("OpenTelemetry is misconfigured, tracing is off: %s", exc)
        return False
    return True


def configure(
    *,
    exporters: list[str] | None = None,
    protocol: str = "http/protobuf",
    service_name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Install and return an SDK tracer provider exporting to `exporters` ("otlp",
    "console"); the OTLP exporter reads its endpoint, headers and timeout from the
    environment. Raises ImportError without the `otel` extra, ValueError for an unknown
    exporter or protocol."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    env = os.environ if env is None else env
    name = service_name or env.get("OTEL_SERVICE_NAME") or "agenthost"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    for exporter in exporters or ["otlp"]:
        provider.add_span_processor(BatchSpanProcessor(_exporter(exporter, protocol)))
    trace.set_tracer_provider(provider)
    log.info("OpenTelemetry tracing on: service %s, exporters %s", name, exporters or ["otlp"])
    return provider


def _exporter(name: str, protocol: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER {name!r} is not supported: use otlp or console")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    else:
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r} is not supported: use http/protobuf or grpc"
        )
    return OTLPSpanExporter()
