#!/usr/bin/env bash
# The CLI tour (run by tests/test_examples.py against a fake model server).
set -euo pipefail
agenthost run "What is the weather in Oslo?" --session trip
agenthost run "And in Paris?" --session trip --json
agenthost sessions list
agenthost sessions show trip
agenthost sessions rm trip
