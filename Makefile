# forensic.checkpoint: `make demo`, `make test`, `make bench` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ANSIBLE_PLAYBOOK := $(VENV)/bin/ansible-playbook

.PHONY: setup demo test sanity units integration bench docs clean

setup:
	@PYTHON=$(PYTHON) scripts/setup.sh

demo: setup
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
	rm -rf .build tests/output demo-output .pytest_cache
