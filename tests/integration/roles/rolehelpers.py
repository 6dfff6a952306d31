# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the tests that run the roles and playbooks against the ``cluster`` fixture."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import jsonschema
import yaml

from harness.testing import REPO_ROOT

PLAYBOOKS = os.path.join(REPO_ROOT, "playbooks")
# Fast polling: the simulated rollout takes seconds, not the minutes of a real one.
FAST = {"enable_checkpointing_wait_sleep": 1, "checkpoint_analyser_wait_timeout": 120,
        "forensic_checkpoint_progress_interval": 1}


def playbook(name):
    return os.path.join(PLAYBOOKS, name)


def tasks_named(result, fragment, host="localhost"):
    """Results of the tasks whose name contains ``fragment`` (role tasks carry a role prefix)."""
    out = []
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            if fragment in task["task"]["name"] and host in task["hosts"]:
                out.append(task["hosts"][host])
    return out


def changed_tasks(result):
    """Names of the tasks that reported a change, on any host."""
    names = []
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            if any(h.get("changed") for h in task["hosts"].values()):
                names.append(task["task"]["name"])
    return names


def explain(result):
    """What to print when a playbook did not do what a test expected."""
    return "rc=%s\nstderr:\n%s\nstdout tail:\n%s" % (result.rc, result.stderr[-3000:],
                                                     result.stdout[-6000:])


def pools(cluster):
    api = cluster.dynamic().resources.get(api_version="machineconfiguration.openshift.io/v1",
                                          kind="MachineConfigPool")
    return {p.metadata.name: p.to_dict() for p in api.get().items}


def feature_gate(cluster):
    api = cluster.dynamic().resources.get(api_version="config.openshift.io/v1", kind="FeatureGate")
    return api.get(name="cluster").to_dict()


def machine_config_names(cluster):
    api = cluster.dynamic().resources.get(api_version="machineconfiguration.openshift.io/v1",
                                          kind="MachineConfig")
    return {m.metadata.name for m in api.get().items}


def load_json(path):
    with open(path) as handle:
        return json.load(handle)


CUSTODY_SCHEMA = os.path.join(REPO_ROOT, "plugins", "module_utils", "custody", "schema", "custody-v1.json")


def custody(run):
    """A run's chain-of-custody record, validated against the collection's JSON Schema."""
    record = load_json(os.path.join(run, "chain-of-custody.json"))
    jsonschema.validate(record, load_json(CUSTODY_SCHEMA))
    return record


def documented_rules(role, heading):
    """The rules of the RBAC objects docs/roles/<role>.md documents under ``heading``, read from
    the doc itself so that the doc and the test cannot drift apart. (The simulator takes them
    cluster-wide: a documented namespaced Role is tested as if bound everywhere.)"""
    with open(os.path.join(REPO_ROOT, "docs", "roles", role + ".md")) as handle:
        text = handle.read()
    block = text.split(heading + "\n", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    return [rule for doc in yaml.safe_load_all(block) for rule in doc["rules"]]
