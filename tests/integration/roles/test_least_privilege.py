# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Least privilege (issue 10): enable.yml works with only the enabler's ClusterRole, and with one
rule removed it fails naming the missing permission, leaving no pool paused."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from rolehelpers import FAST, explain, feature_gate, playbook, pools
from simcluster.seed import load_identity_manifests

ENABLE = dict(FAST, enable_checkpointing_accept_irreversible=True)

pytestmark = pytest.mark.simulated_only  # enabling CustomNoUpgrade is irreversible on a real cluster


def enabler_rules():
    role = [i for i in load_identity_manifests() if i["kind"] == "ClusterRole" and i["metadata"]["name"] == "forensic-identities-enabler"]
    return role[0]["rules"]


def test_enable_runs_with_only_the_enabler_role(sim_cluster, ansible):
    result = ansible.playbook(playbook("enable.yml"), ENABLE, identity="enabler")
    assert result.rc == 0, explain(result)
    assert "ContainerCheckpoint" in feature_gate(sim_cluster)["spec"]["customNoUpgrade"]["enabled"]


def test_enable_without_pool_patch_names_the_missing_permission(sim_cluster, ansible):
    rules = copy.deepcopy(enabler_rules())
    for rule in rules:
        if rule["resources"] == ["machineconfigpools"]:
            rule["verbs"] = [verb for verb in rule["verbs"] if verb not in ("patch", "update")]
    token = sim_cluster.sim.add_identity("enabler-without-pool-patch", rules)
    result = ansible.playbook(playbook("enable.yml"), ENABLE, identity="enabler", env={"K8S_AUTH_API_KEY": token})
    output = result.stdout + result.stderr
    assert result.rc != 0, explain(result)
    assert 'cannot patch resource \\"machineconfigpools\\"' in output, explain(result)
    assert not any(pool["spec"].get("paused") for pool in pools(sim_cluster).values())
    assert token not in output
