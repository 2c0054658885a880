#!/usr/bin/env bash
# The native API with curl (run by tests/unit/server/test_examples.py against a fake model).
# AGENTHOST_URL defaults to http://127.0.0.1:8000; AGENTHOST_API_KEY is needed when the server
# has keys.
set -euo pipefail
URL="${AGENTHOST_URL:-http://127.0.0.1:8000}"
AUTH=(-H "Authorization: Bearer ${AGENTHOST_API_KEY:-local}")
JSON=(-H "Content-Type: application/json")

# the agents of this server
curl -sf "$URL/v1/apps" "${AUTH[@]}"; echo

# a session with your own id, then a run in it, streamed as server-sent events
curl -sf -X POST "$URL/v1/apps/assistant/sessions" "${AUTH[@]}" "${JSON[@]}" -d '{"session_id": "trip"}'; echo
curl -sfN -X POST "$URL/v1/apps/assistant/sessions/trip/runs" "${AUTH[@]}" "${JSON[@]}" -d '{"message": "What is the weather in Oslo?"}'

# the same session, one JSON answer when the run has ended
curl -sf -X POST "$URL/v1/apps/assistant/sessions/trip/runs" "${AUTH[@]}" "${JSON[@]}" -d '{"message": "And in Paris?", "stream": false}'; echo

# the session's events, a page at a time
curl -sf "$URL/v1/apps/assistant/sessions/trip/events?after=0&limit=3" "${AUTH[@]}"; echo

# the session's runs and their status
curl -sf "$URL/v1/apps/assistant/sessions/trip" "${AUTH[@]}"; echo

# the same agent as an OpenAI model, continuing the same session
curl -sf "$URL/v1/chat/completions" "${AUTH[@]}" "${JSON[@]}" -H "X-Session-Id: trip" -d '{"model": "assistant", "messages": [{"role": "user", "content": "Thanks!"}]}'; echo

# done with it
curl -sf -X DELETE "$URL/v1/apps/assistant/sessions/trip" "${AUTH[@]}"
echo "deleted"
