# Customer segments: the two commands are `make demo` and `make test` (see README.md).
# Everything installs into ./.venv (Python) and ./node_modules (the pinned CDK CLI).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
NODE_STAMP := node_modules/.installed
# Processes for pytest-xdist (the machine has 2 cores).
PYTEST_WORKERS ?= 2
DEMO_ARGS ?=
PORT ?= 8000
BROWSER_TESTS := $(wildcard tests/browser/test_*.py)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The CDK app runs with the project's Python (cdk.json: "python3 -m infra.app").
export PATH := $(BIN):$(PATH)

.PHONY: help venv demo-env node chromium demo demo-check stack lint format typecheck test test-fast \
	doctest \
	test-unit test-integration test-infra test-e2e test-browser synth cfn-lint bench clean \
	distclean

help: ## Show the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'

# --- environments ----------------------------------------------------------------------------

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP) $(DEMO_STAMP)

venv: $(STAMP) ## Create .venv and install the project with its dev/test tools

# The demo needs the runtime set plus the local-stack tools (same pins as requirements-dev.txt),
# not the test/infra tooling: a first `make demo` installs less.
$(DEMO_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	grep -E '^(uvicorn|httpx|rich|moto)[^a-z_-]' requirements-dev.txt > $(VENV)/requirements-demo.txt
	$(PY) -m pip install --quiet -r requirements.txt -r $(VENV)/requirements-demo.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(DEMO_STAMP)

demo-env: $(DEMO_STAMP) ## Create .venv with what the demo needs (runtime + local stack)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

node: $(NODE_STAMP) ## Install the pinned AWS CDK CLI (npm ci)

# The browser tests drive $(CHROMIUM_PATH) (set CHROMIUM_PATH to use another Chromium/Chrome).
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH

chromium: ## Install Debian's Chromium for the browser tests (only when there are any)
	@if [ -n "$(BROWSER_TESTS)" ] && [ ! -x "$(CHROMIUM_PATH)" ]; then \
		echo "installing chromium (apt) for the browser tests"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; \
	fi

# --- the main job ----------------------------------------------------------------------------

demo: demo-env ## Local stack + Mall data: train, print segments, serve API/dashboard (Ctrl-C stops)
	$(BIN)/segments demo --port $(PORT) $(DEMO_ARGS)

demo-check: demo-env ## The demo, exiting once the segments are printed
	$(BIN)/segments demo --port 0 --exit-after-training $(DEMO_ARGS)

stack: demo-env ## The local stack alone (empty), serving until Ctrl-C
	$(BIN)/segments stack --port $(PORT)

# --- checks ----------------------------------------------------------------------------------

lint: venv ## ruff check, ruff format --check, mypy, import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv ## mypy (shared, lambdas, cli)
	$(BIN)/mypy

doctest: venv ## The docstring examples of shared/ and lambdas/ (numpydoc Examples sections)
	$(BIN)/pytest -q -p no:cacheprovider --doctest-modules shared lambdas

test-unit: venv ## Unit tests (no AWS)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) tests/unit

test-integration: venv ## Integration tests under moto
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) tests/integration

test-infra: venv node ## CDK assertions tests
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) tests/infra

test-e2e: venv ## End-to-end tests against the local stack
	$(BIN)/pytest -q -m e2e tests/e2e

test-browser: venv chromium ## Playwright + Debian Chromium against the local stack
	@if [ -n "$(BROWSER_TESTS)" ]; then $(BIN)/pytest -q -m browser tests/browser; \
	else echo "no browser tests"; fi

# The whole suite. `cdk synth` through the pinned CLI, cfn-lint, hadolint and actionlint run
# inside tests/infra (test_compliance.py), so they are not repeated here.
# Tests that start the local stack (e2e, browser) run in pytest processes of
# their own: a local stack sets AWS_ENDPOINT_URL and friends for its process and uses moto's
# in-process backends, which must not meet moto's mock used by the integration tests.
test: venv node chromium ## Everything: lint, types, unit, integration, infra, e2e, browser, synth
	@start=$$(date +%s); \
	$(MAKE) lint; \
	$(MAKE) doctest; \
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not e2e and not browser" tests; \
	$(BIN)/pytest -q -m e2e tests/e2e; \
	if [ -n "$(BROWSER_TESTS)" ]; then $(BIN)/pytest -q -m browser tests/browser; fi; \
	echo "make test: all green in $$(( $$(date +%s) - start )) s"

test-fast: venv ## Lint + docstring examples + unit tests only
	$(MAKE) lint
	$(MAKE) doctest
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not slow and not e2e and not browser" tests/unit

synth: venv node ## cdk synth (offline; no Docker needed) into cdk.out/
	npx --no-install cdk synth --quiet

cfn-lint: synth ## cfn-lint on the synthesized templates (+ hadolint, actionlint)
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json
	$(BIN)/hadolint Dockerfile
	$(BIN)/actionlint .github/workflows/*.yml

bench: venv ## Benchmarks: training engine and API (prints the numbers the README quotes)
	@for script in bench/train.py bench/orders.py bench/api.py bench/load.py bench/autoencoder.py; do \
		if [ -f $$script ]; then echo "== $$script"; $(PY) $$script; fi; \
	done

clean: ## Remove caches and build outputs (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis test-output build dist \
		*.egg-info .local
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -not -path "./node_modules/*" \
		-prune -exec rm -rf {} +

distclean: clean ## Also remove .venv and node_modules
	rm -rf $(VENV) node_modules
