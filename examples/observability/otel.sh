#!/usr/bin/env bash
# Traces over OTLP: the standard OpenTelemetry environment, nothing else (see
# docs/observability.md; tests/integration/test_otlp.py serves the same way).
set -euo pipefail
pip install 'agenthost[otel]'
export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
export OTEL_SERVICE_NAME=agenthost
agenthost serve

# a caller's trace continues into the run
curl -N http://127.0.0.1:8000/v1/apps/assistant/runs -H 'Content-Type: application/json' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' -d '{"message": "Hello!"}'

# the metrics of a server, and of a worker on its own port
curl http://127.0.0.1:8000/metrics
AGENTHOST_METRICS_PORT=9100 agenthost worker
curl http://127.0.0.1:9100/metrics
