#!/usr/bin/env bash
# Create the venvs of the `server` workload's --compare rows (python -m benchmarks --only
# server --compare): benchmarks/.venv-compare with Google ADK + LiteLLM, and
# benchmarks/.venv-compare-agentscope with AgentScope Runtime + agentscope 1.x. Separate from
# .venv because both would change versions agenthost uses (opentelemetry-*, ...), and from each
# other because LiteLLM needs mcp 2.x while agentscope 1.x needs mcp 1.x.
# Usage: benchmarks/compare_setup.sh [PYTHON3.11]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${1:-${PYTHON:-python3.11}}"

make_venv() {
    local venv="$here/$1"
    shift
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "$@"
}

make_venv .venv-compare google-adk litellm "mcp>=2" uvicorn
make_venv .venv-compare-agentscope agentscope-runtime "agentscope>=1.0.14,<2" "mcp<2" greenlet tqdm uvicorn
LITELLM_LOCAL_MODEL_COST_MAP=True "$here/.venv-compare/bin/python" -c 'import google.adk.models.lite_llm, litellm.experimental_mcp_client.client'
"$here/.venv-compare-agentscope/bin/python" -c 'import agentscope.agent, agentscope_runtime.engine'
echo "compare venvs ready"
