# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Least privilege (issue 10): enable.yml and checkpoint.yml work with only the rules their docs
document, and with one rule removed they fail naming the missing permission."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

import pytest

from rolehelpers import FAST, documented_rules, explain, feature_gate, playbook, pools

ENABLE = dict(FAST, enable_checkpointing_accept_irreversible=True)

pytestmark = pytest.mark.simulated_only  # enabling CustomNoUpgrade is irreversible on a real cluster


def enabler_rules():
    return documented_rules("enable_checkpointing", "## Least privilege")


def test_enable_runs_with_only_the_enabler_role(sim_cluster, ansible):
    token = sim_cluster.sim.add_identity("documented-enabler", enabler_rules())
    result = ansible.playbook(playbook("enable.yml"), ENABLE, identity="enabler", env={"K8S_AUTH_API_KEY": token})
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


def documented_responder_rules():
    return documented_rules("forensic_checkpoint", "## Least privilege (to respond)")


RESPOND = dict(FAST, forensic_deploy_analyser=False, forensic_checkpoint_report=False,
               forensic_checkpoint_namespace="demo", forensic_checkpoint_label_selectors="app=counters")


def test_checkpoint_runs_with_only_the_documented_responder_rules(sim_cluster, ansible, tmp_path):
    prepared = ansible.playbook(playbook("enable.yml"), ENABLE)
    assert prepared.rc == 0, explain(prepared)
    ready = ansible.playbook(playbook("forensic.yml"), dict(
        FAST, forensic_checkpoint_namespace="demo", forensic_checkpoint_label_selectors="app=counters",
        forensic_checkpoint_report=False, forensic_checkpoint_output_dir=str(tmp_path / "admin")))
    assert ready.rc == 0, explain(ready)  # enabled and analyser deployed, as the platform team would
    token = sim_cluster.sim.add_identity("responder", documented_responder_rules())
    result = ansible.playbook(playbook("checkpoint.yml"), dict(RESPOND, forensic_checkpoint_output_dir=str(tmp_path / "r")),
                              identity="checkpointer", env={"K8S_AUTH_API_KEY": token})
    assert result.rc == 0, explain(result)
    assert os.listdir(str(tmp_path / "r"))

    without_proxy = [rule for rule in documented_responder_rules() if rule["resources"] != ["nodes/proxy"]]
    token = sim_cluster.sim.add_identity("responder-without-proxy", without_proxy)
    refused = ansible.playbook(playbook("checkpoint.yml"), dict(RESPOND, forensic_checkpoint_output_dir=str(tmp_path / "x")),
                               identity="checkpointer", env={"K8S_AUTH_API_KEY": token})
    output = refused.stdout + refused.stderr
    assert refused.rc != 0, explain(refused)
    assert "nodes/proxy" in output, explain(refused)
    assert token not in output
