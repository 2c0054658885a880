#!/bin/sh
# Bring a server store's schema up to date before (or while) rolling out a new agenthost.
set -e
agenthost db status --config agenthost.yaml || true    # exit 1 when an upgrade is needed
agenthost db upgrade --config agenthost.yaml   # apply the pending migrations (idempotent)
