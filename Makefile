# forensic.checkpoint: `make demo`, `make test`, `make bench` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ANSIBLE_PLAYBOOK := $(VENV)/bin/ansible-playbook

.PHONY: setup demo test sanity units integration bench docs clean

# Test-only system packages (bindep profile "test": gdb, chromium...) are installed for the
# test targets; the demo needs only the default profile.
setup:
	@PYTHON=$(PYTHON) scripts/setup.sh

demo:
	@PYTHON=$(PYTHON) SETUP_PROFILES= scripts/setup.sh
	@$(ANSIBLE_PLAYBOOK) playbooks/demo.yml

test: setup
	@scripts/test.sh all

sanity: setup
	@scripts/test.sh sanity

units: setup
	@scripts/test.sh units

integration: setup
	@scripts/test.sh integration

bench: setup
	@$(VENV)/bin/python tests/bench/run.py

docs: setup
	@scripts/docs.sh

clean:
	-@$(VENV)/bin/python -m simcluster stop --state-dir demo-output/simcluster 2>/dev/null
	rm -rf .build tests/output demo-output .pytest_cache
