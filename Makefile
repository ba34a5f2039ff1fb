# botcenter — the front door. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
PACKAGES := . ./gateway ./auth-service ./bot-service ./command-service ./storage-service ./log-service ./discord-sandbox
STAMP := $(VENV)/.installed
INSTALL_INPUTS := constraints.txt pyproject.toml $(wildcard */pyproject.toml)

.PHONY: help install run test test-slow lint typecheck bench schema docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@echo "creating $(VENV)"
	@$(PY) -m venv $(VENV)

$(UV): $(BIN)/python
	@$(BIN)/pip install --quiet --disable-pip-version-check uv

$(STAMP): $(UV) $(INSTALL_INPUTS)
	@echo "installing packages (pinned ranges from constraints.txt)"
	@$(UV) pip install --python $(BIN)/python --quiet -c constraints.txt --config-settings editable_mode=compat \
		$(foreach p,$(PACKAGES),-e $(p)) \
		pytest pytest-asyncio pytest-timeout ruff mypy import-linter "moto[server]" types-pyyaml jsonschema \
		kubernetes-validate promql-parser sentry-sdk \
		opentelemetry-instrumentation-httpx opentelemetry-instrumentation-aiohttp-client
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install every package

run: install ## run the whole product on embedded defaults (Ctrl-C stops it)
	@$(BIN)/botcenter up

test: install ## the whole suite: lint, types, import contracts, contract drift, tests
	@$(BIN)/ruff check .
	@$(BIN)/mypy
	@$(BIN)/lint-imports
	@$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install ## the slow suites (chaos, long soak)
	@$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: install ## ruff
	@$(BIN)/ruff check .

typecheck: install ## mypy --strict on every package (the list is in pyproject.toml)
	@$(BIN)/mypy

schema: install ## regenerate everything derived from proto/ and deploy/ sources
	@$(BIN)/python -m proto.export
	@$(BIN)/python deploy/nats/render.py
	@$(BIN)/python deploy/grafana/build.py
	@$(BIN)/python deploy/k8s/build.py

bench: install ## run the benchmarks in bench/, write bench/results/*.json
	@$(BIN)/python -m bench $(BENCH)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .botcenter

docs: install ## regenerate the README's table of environment variables
	@$(BIN)/python -m services.devstack.settings_doc
