#!/usr/bin/env bash
# The `agenthost kb` commands on the demo handbook (run from the repository root, or pass
# the handbook folder as $1). Data goes to $AGENTHOST_HOME/knowledge.db.
set -euo pipefail
HANDBOOK="${1:-examples/knowledge/handbook}"

agenthost kb create shop --description "Northwind Cycles handbook" --chunk-size 600 --chunk-overlap 80
agenthost kb add shop "$HANDBOOK"                     # a folder: every file under it
agenthost kb ls                                       # your bases (and the config's)
agenthost kb ls shop                                  # the documents of one
agenthost kb search shop "how long do I have to return a bike" --top-k 2
agenthost kb search shop "puncture" --mode text --filter type=html
agenthost kb rm shop "$HANDBOOK/hours.md"             # one document
agenthost kb rm shop                                  # the whole base
