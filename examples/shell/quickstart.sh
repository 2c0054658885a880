# The whole quick start, on a fresh machine (Debian/Ubuntu, Python 3.11+):
make demo   # creates .venv, installs, chats with the demo agent on the embedded model
make test   # lint, type check, layer check and the whole test suite
