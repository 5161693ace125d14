# KubeCopilot — everything a fresh Debian machine needs is installed from here, and cached.
#   make demo   sandbox cluster up with every incident scenario seeded, and a summary of what is broken
#   make test   the full suite (lint, unit tests, tests against the sandbox)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lab sandbox-up sandbox-down sandbox-status install control-plane lint unit bench clean chromium

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq python3-venv)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3
	@touch $@

# Finds etcd / kube-apiserver / controller-manager / scheduler (--bin-dir, KUBEBUILDER_ASSETS, PATH, cache)
# or builds them once from Debian's kubernetes source package (~6 min), cached in ~/.cache/kubecopilot.
control-plane: $(INSTALLED)
	$(BIN)/kubecopilot sandbox install

lint: $(INSTALLED)
	$(BIN)/ruff check kubecopilot tests

unit: $(INSTALLED)
	$(BIN)/pytest tests/unit -q

# Debian's chromium drives the browser tests (Playwright with executable_path; no browser download).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: control-plane lint chromium
	$(BIN)/pytest -q

demo: control-plane
	$(BIN)/kubecopilot sandbox up --scenario all --wait 150
	@echo
	@echo "The sandbox keeps running: export KUBECONFIG=$$($(BIN)/python -c 'from kubecopilot.sandbox import default_data_dir as d; print(d() / "kubeconfig")')"
	@echo "Stop it with: make sandbox-down"

sandbox-up: control-plane
	$(BIN)/kubecopilot sandbox up

sandbox-down: $(INSTALLED)
	$(BIN)/kubecopilot sandbox down

sandbox-status: $(INSTALLED)
	$(BIN)/kubecopilot sandbox status

lab: control-plane
	$(BIN)/kubecopilot sandbox up
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: control-plane
	$(BIN)/python tests/benchmarks/bench_simulator.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
