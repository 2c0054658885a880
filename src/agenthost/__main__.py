"""`python -m agenthost ...` is the `agenthost` command (for a virtualenv not on PATH)."""

from agenthost.cli.app import main

main()
