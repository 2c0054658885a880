#!/usr/bin/env bash
# Serve the agents of a config over A2A (and the native and OpenAI APIs): the a2a extra adds
# the a2a-sdk; `agenthost serve` then publishes an agent card for every agent.
set -euo pipefail
pip install 'agenthost[server,a2a]'
agenthost serve --config examples/server/agenthost.yaml
curl -s http://127.0.0.1:8000/.well-known/agent-card.json
curl -s http://127.0.0.1:8000/a2a/echo/.well-known/agent-card.json
