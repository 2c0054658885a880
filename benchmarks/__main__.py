"""`python -m benchmarks [--quick] [--only NAME] [--skip-local]`: see benchmarks/suite.py."""

from benchmarks.suite import main

main()
