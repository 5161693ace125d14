# KubeCopilot — everything a fresh Debian machine needs is installed from here, and cached.
#   make demo   sandbox up with every incident scenario, triaged, low-risk fixes executed, postmortem written
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

# The sandbox with every scenario, the triage-namespace runbook over them (low-risk fixes executed as demo-sre),
# the postmortem-report runbook; prints where the output notebooks, the report and the ledger are (src: cli `demo`).
demo: control-plane
	$(BIN)/kubecopilot demo --wait 150
	@echo
	@echo "The sandbox keeps running. Stop it with: make sandbox-down"

sandbox-up: control-plane
	$(BIN)/kubecopilot sandbox up

sandbox-down: $(INSTALLED)
	$(BIN)/kubecopilot sandbox down

sandbox-status: $(INSTALLED)
	$(BIN)/kubecopilot sandbox status

# The guides in notebooks/ connect to this sandbox (kubecopilot.sandbox.kubeconfig_path()); kernels also get its
# kubeconfig as KUBECONFIG, so a bare kc.connect() finds it. Start with notebooks/00-tour.ipynb.
lab: control-plane
	$(BIN)/kubecopilot sandbox up
	KUBECONFIG="$$($(BIN)/python -c 'from kubecopilot.sandbox import kubeconfig_path; print(kubeconfig_path())')" \
	  $(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: control-plane
	$(BIN)/python tests/benchmarks/bench_simulator.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
