#!/usr/bin/env bash
# An agenthost server's agents over A2A, with curl (run by tests/unit/server/test_a2a_examples.py
# against a fake model). These are A2A 0.3 JSON-RPC methods (message/send, ...); A2A 1.0 clients
# send "A2A-Version: 1.0" and use SendMessage, SendStreamingMessage, GetTask, CancelTask.
# AGENTHOST_URL defaults to http://127.0.0.1:8000; AGENTHOST_API_KEY is needed when the server
# has keys.
set -euo pipefail
URL="${AGENTHOST_URL:-http://127.0.0.1:8000}"
AUTH=(-H "Authorization: Bearer ${AGENTHOST_API_KEY:-local}")
JSON=(-H "Content-Type: application/json")

# the card of the default agent (no key needed), and the list of agents with their cards
curl -sf "$URL/.well-known/agent-card.json"; echo
curl -sf "$URL/a2a" "${AUTH[@]}"; echo

# one message, answered when the task has ended; contextId "a2a-demo" is the session
curl -sf -X POST "$URL/a2a/assistant/" "${AUTH[@]}" "${JSON[@]}" -d '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"kind": "message", "role": "user", "messageId": "m1", "contextId": "a2a-demo", "parts": [{"kind": "text", "text": "What is the weather in Oslo?"}]}}}'; echo

# the next message of the same conversation, streamed: the task, then its updates (SSE)
curl -sfN -X POST "$URL/a2a/assistant/" "${AUTH[@]}" "${JSON[@]}" -d '{"jsonrpc": "2.0", "id": 2, "method": "message/stream", "params": {"message": {"kind": "message", "role": "user", "messageId": "m2", "contextId": "a2a-demo", "parts": [{"kind": "text", "text": "And in Paris?"}]}}}'

# a task again, by its id (the task id is the run id)
TASK=$(curl -sf -X POST "$URL/a2a/echo/" "${AUTH[@]}" "${JSON[@]}" -d '{"jsonrpc": "2.0", "id": 3, "method": "message/send", "params": {"message": {"kind": "message", "role": "user", "messageId": "m3", "parts": [{"kind": "text", "text": "Hello!"}]}}}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["id"])')
curl -sf -X POST "$URL/a2a/echo/" "${AUTH[@]}" "${JSON[@]}" -d "{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\": \"tasks/get\", \"params\": {\"id\": \"$TASK\"}}"; echo
