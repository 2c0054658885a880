#!/usr/bin/env bash
# `agenthost deploy local`: the server as a background daemon on this machine, its pid and log
# files under $AGENTHOST_HOME (run by tests/integration/test_deploy_local.py).
set -euo pipefail
agenthost deploy local --port "${AGENTHOST_PORT:-8000}"
agenthost deploy status
agenthost deploy logs -n 5
agenthost deploy stop
