#!/usr/bin/env bash
# A session's artifacts over the native API. Needs a running server (agenthost serve) and
# AGENTHOST_API_KEY when it has keys. Run by tests/unit/server/test_artifacts_examples.py.
set -euo pipefail
URL=${AGENTHOST_URL:-http://127.0.0.1:8000}
AUTH="Authorization: Bearer ${AGENTHOST_API_KEY:-local}"
S=$URL/v1/apps/assistant/sessions/demo

curl -sf -X POST -H "$AUTH" -H 'Content-Type: application/json' -d '{"session_id": "demo"}' "$URL/v1/apps/assistant/sessions" > /dev/null

# a run with an attachment: the image is kept as uploads/image-1.png
curl -sf -H "$AUTH" -H 'Content-Type: application/json' "$S/runs" -d '{"stream": false, "message": [{"kind": "text", "text": "What is this?"}, {"kind": "image", "data": "iVBORw0KGgo=", "mime_type": "image/png"}]}'
echo

# save two versions of a file, list, read one version, list its versions, delete it
curl -sf -H "$AUTH" -H 'Content-Type: application/json' "$S/artifacts/notes/plan.md" -d '{"data": "IyBwbGFuIHYx", "mime_type": "text/markdown"}'
curl -sf -H "$AUTH" -H 'Content-Type: application/json' "$S/artifacts/notes/plan.md" -d '{"data": "IyBwbGFuIHYy"}'
echo
curl -sf -H "$AUTH" "$S/artifacts"
echo
curl -sf -H "$AUTH" "$S/artifacts/notes/plan.md?version=0"
echo
curl -sf -H "$AUTH" "$S/artifact-versions/notes/plan.md"
echo
curl -sf -X DELETE -H "$AUTH" "$S/artifacts/notes/plan.md"
echo "deleted"
