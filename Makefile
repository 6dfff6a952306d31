# forensic.checkpoint: `make demo`, `make test`, `make bench` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ANSIBLE_PLAYBOOK := $(VENV)/bin/ansible-playbook

.PHONY: setup demo test sanity units integration packaging lint versions bench docs clean

# System packages: bindep.txt (run time) plus tests/bindep.txt's profile "test" (gdb, chromium...)
# for the test targets, or "demo" (the simulated cluster's bubblewrap...) for the demo.
setup:
	@PYTHON=$(PYTHON) scripts/setup.sh

demo:
	@PYTHON=$(PYTHON) SETUP_PROFILES=demo scripts/setup.sh
	@$(ANSIBLE_PLAYBOOK) playbooks/demo.yml

test: setup
	@scripts/test.sh all

sanity: setup
	@scripts/test.sh sanity

units: setup
	@scripts/test.sh units

integration: setup
	@scripts/test.sh integration

packaging: setup
	@scripts/test.sh packaging

# Sanity and unit tests on ansible-core 2.16, 2.17 and 2.18 only (`make test` runs them too, in the background).
versions: setup
	@scripts/test.sh versions

# ansible-lint --profile production and antsibull-changelog lint (both also in `make test`).
lint: setup
	@scripts/test.sh lint

bench: setup
	@$(VENV)/bin/python tests/bench/run.py

docs: setup
	@scripts/docs.sh

clean:
	-@$(VENV)/bin/python -m simcluster stop --state-dir demo-output/simcluster 2>/dev/null
	rm -rf .build tests/output demo-output .pytest_cache .ansible .venv-versions
