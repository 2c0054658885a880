#!/usr/bin/env bash
# Starting the server, as docs/server.md shows it (not run by the tests: it serves forever).
set -euo pipefail

# the server's dependencies (FastAPI, uvicorn, prometheus-client)
pip install 'agenthost[server]'

# local development: no keys, 127.0.0.1 only, everyone is the admin user "local"
agenthost serve --config examples/server/agenthost.yaml

# with API keys: alice is a user, ops an admin; listening on every interface
export AGENTHOST_API_KEYS="$(openssl rand -hex 24):alice,$(openssl rand -hex 24):ops@admin"
agenthost serve --config examples/server/agenthost.yaml --host 0.0.0.0 --port 8000

# a key kept in the config as its SHA-256 only: "sha256:<hex>:alice"
printf %s "$ALICE_KEY" | sha256sum | cut -d' ' -f1

# uvicorn yourself, with the embedding example
uvicorn embed:app --app-dir examples/server --port 8000
