#!/usr/bin/env bash
# AG-UI with curl (run by tests/unit/server/test_agui_examples.py against a fake model):
# a RunAgentInput in, AG-UI events out as server-sent events. AGENTHOST_URL defaults to
# http://127.0.0.1:8000; AGENTHOST_API_KEY is needed when the server has keys.
set -euo pipefail
URL="${AGENTHOST_URL:-http://127.0.0.1:8000}"
AUTH=(-H "Authorization: Bearer ${AGENTHOST_API_KEY:-local}")
JSON=(-H "Content-Type: application/json")

# a run on thread "agui-demo" (the session id): RUN_STARTED ... RUN_FINISHED
curl -sfN -X POST "$URL/agui/assistant" "${AUTH[@]}" "${JSON[@]}" -d '{"threadId": "agui-demo", "runId": "r1", "state": {"units": "metric"}, "messages": [{"id": "m1", "role": "user", "content": "What is the weather in Oslo?"}]}'

# the next message on the same thread: the session has the history
curl -sfN -X POST "$URL/agui/assistant" "${AUTH[@]}" "${JSON[@]}" -d '{"threadId": "agui-demo", "runId": "r2", "messages": [{"id": "m2", "role": "user", "content": "And in Paris?"}]}'

# the same thread in the native API: its state and runs
curl -sf "$URL/v1/apps/assistant/sessions/agui-demo" "${AUTH[@]}"; echo
