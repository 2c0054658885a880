#!/usr/bin/env bash
# The README's "In your own code" examples, run from the repository root after `make demo`.
set -euo pipefail
.venv/bin/python examples/quickstart.py
.venv/bin/python examples/ask.py
