#!/usr/bin/env bash
# `agenthost usage`: what the runs cost, from the usage store (run by tests/test_examples_pricing.py
# after examples/pricing/budgets.py has made some runs in $AGENTHOST_HOME).
set -euo pipefail
CONFIG=examples/pricing/agenthost.yaml

agenthost usage --config "$CONFIG"                          # by day, a table
agenthost usage --config "$CONFIG" --by agent --format csv
agenthost usage --config "$CONFIG" --by user --format json --since 2025-01-01
