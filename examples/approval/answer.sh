#!/usr/bin/env bash
# Approvals with the CLI, on the agent of agenthost.yaml (run by
# tests/test_examples_approval.py against a fake model).
set -euo pipefail
cd "$(dirname "$0")"

# the CLI: a run that pauses, the calls waiting for you, an answer (with other arguments)
agenthost run "Send Bob 500 euros" --session pay
agenthost approvals ls
ID=$(agenthost approvals ls | awk 'NR==1 {print $1}')
agenthost approve "$ID" --args '{"to": "Bob", "amount": 50}'
