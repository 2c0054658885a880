#!/usr/bin/env bash
# A long chat through the CLI with the agent of agenthost.yaml, then its stored events: the
# compaction.summary events sit among the raw events, which all stay readable.
set -euo pipefail
cd "$(dirname "$0")"
for i in $(seq 1 8); do
  agenthost run --config agenthost.yaml --session long "Question $i: tell me about topic $i." > /dev/null
done
agenthost sessions show long --config agenthost.yaml
