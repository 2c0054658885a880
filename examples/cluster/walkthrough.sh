#!/usr/bin/env bash
# From one process to a cluster (docs/deploy.md); run by tests/integration/test_deploy_walkthrough.py
# against the Postgres, Redis and RabbitMQ on 127.0.0.1. Every process it starts is stopped
# when it exits.
set -euo pipefail
PORT_A=${PORT_A:-8001}
PORT_B=${PORT_B:-8002}
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT

# 1. One process: SQLite, nothing else to run
agenthost run "Hello from one process" --config one_process.yaml

# 2. The same agents on Postgres: create the tables once
agenthost db upgrade --config agenthost.yaml

# 3. Two servers and a worker, all with the same config
agenthost serve --config agenthost.yaml --port "$PORT_A" > server-a.log 2>&1 &
agenthost serve --config agenthost.yaml --port "$PORT_B" > server-b.log 2>&1 &
agenthost worker --config agenthost.yaml > worker.log 2>&1 &
until curl -sf "http://127.0.0.1:$PORT_A/readyz" > /dev/null; do sleep 0.2; done
until curl -sf "http://127.0.0.1:$PORT_B/readyz" > /dev/null; do sleep 0.2; done
until grep -q "agenthost worker ready" worker.log; do sleep 0.2; done

# 4. A background run: posted to server A, answered at once (202) ...
curl -s "http://127.0.0.1:$PORT_A/v1/apps/assistant/runs" -H 'Content-Type: application/json' \
  -d '{"message": "Hello from the background", "background": true}' > queued.json
EVENTS=$(python3 -c 'import json; print(json.load(open("queued.json"))["events_url"])')

# ... run by the worker, streamed live through server B
curl -sN "http://127.0.0.1:$PORT_B$EVENTS"

# 5. Resume after the first event (Last-Event-ID), through server A
curl -sN "http://127.0.0.1:$PORT_A$EVENTS" -H 'Last-Event-ID: 1'
