# The whole quick start, on a fresh machine (Debian/Ubuntu, Python 3.11+):
make demo   # creates .venv, installs, serves the demo agent and its chat page: no key needed
make test   # lint, type check, layer check and the whole test suite
