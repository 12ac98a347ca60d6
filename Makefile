# EnergyApp: the two commands that matter are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUN_DIR := .tools/bun
BUN_VERSION := 1.4.5
# axe-core for the accessibility browser tests (tests/browser/test_accessibility.py).
AXE_DIR := .tools/axe
AXE_VERSION := 4.14.1
# Reflex runs offline here: system bun, no telemetry, no update check.
export PATH := $(CURDIR)/$(BUN_DIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export NPM_CONFIG_REGISTRY ?= $(shell npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)

.PHONY: help run dev test test-fast lint setup deps dev-deps bun axe chromium bench

help:
	@echo "make run    - install, migrate, seed demo accounts and start EnergyApp (SQLite default)"
	@echo "make test   - install test dependencies and run the whole test suite"
	@echo "make dev    - like run, with hot reload (development)"
	@echo "make lint   - ruff, the import contract (.importlinter) and mypy"
	@echo "make bench  - run the benchmarks (PostgreSQL) and regenerate docs/benchmarks.md"

$(VENV)/.deps-%: requirements.txt requirements-dev.txt requirements-bench.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements$(if $(filter run,$*),,-$*).txt
	@touch $@

deps: $(VENV)/.deps-run
dev-deps: $(VENV)/.deps-dev

bun:
	@command -v bun >/dev/null 2>&1 || { echo "Installing bun $(BUN_VERSION) from npm into $(BUN_DIR)"; \
	  npm install --prefix $(BUN_DIR) --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION); }

axe:
	@grep -qs '"version": "$(AXE_VERSION)"' $(AXE_DIR)/node_modules/axe-core/package.json || { \
	  echo "Installing axe-core $(AXE_VERSION) from npm into $(AXE_DIR)"; \
	  npm install --prefix $(AXE_DIR) --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION); }

setup: deps bun
	$(PY) -m energyapp setup

run: setup
	@echo "EnergyApp: building the frontend and starting on $$($(PY) -c 'from energyapp.settings import get_settings as g; print(g().public_url)')"
	$(VENV)/bin/reflex run --env prod

dev: setup
	$(VENV)/bin/reflex run

chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Browser tests need Debian's Chromium: sudo apt-get install -y chromium"; exit 1; fi; }

test: dev-deps bun chromium axe
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: dev-deps
	$(VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS)

lint: dev-deps
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports && $(VENV)/bin/mypy

# Benchmarks need PostgreSQL (ENERGYAPP_BENCH_PG_URL, default the local "test" database) and
# Chromium; they take several minutes and print their figures as they go.
bench: $(VENV)/.deps-bench bun chromium
	$(PY) -m bench.wakeup
	$(PY) -m bench.admin_scale
	$(PY) -m bench.chat_api
	$(PY) -m bench.login
	$(PY) -m bench.ui_stream
	$(PY) -m bench.login_storm
	$(PY) -m bench.report
