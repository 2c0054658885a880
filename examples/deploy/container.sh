#!/usr/bin/env bash
# The image, compose and Kubernetes commands of docs/deploy.md. They need a Docker daemon or
# a cluster, so no test runs this script; tests/integration/test_manifests.py checks the files
# they use (deploy/Dockerfile, deploy/compose.yaml, deploy/k8s/) instead.
set -euo pipefail

# the image, from the repository root
docker build -f deploy/Dockerfile -t agenthost .
docker run --rm -p 127.0.0.1:8000:8000 -e AGENTHOST_API_KEYS="$AGENTHOST_API_KEYS" -e OPENAI_API_KEY="$OPENAI_API_KEY" agenthost

# server, worker, Postgres and Redis
AGENTHOST_API_KEYS="$(openssl rand -hex 16):alice" docker compose -f deploy/compose.yaml up --build -d
docker compose -f deploy/compose.yaml ps
docker compose -f deploy/compose.yaml down

# Kubernetes
kubectl create secret generic agenthost --from-literal=AGENTHOST_API_KEYS="$AGENTHOST_API_KEYS" --from-literal=AGENTHOST_STORE="$AGENTHOST_STORE" --from-literal=OPENAI_API_KEY="$OPENAI_API_KEY"
kubectl apply -k deploy/k8s
kubectl rollout status deployment/agenthost-server
