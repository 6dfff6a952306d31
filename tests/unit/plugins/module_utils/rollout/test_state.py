# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state enable_checkpointing reports, including after reads that failed (rollout/state.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.rollout import state


def node(name, boot):
    return {"metadata": {"name": name}, "status": {"nodeInfo": {"bootID": boot}}}


def pool(name, paused=False, updated="True"):
    return {"metadata": {"name": name}, "spec": {"paused": paused},
            "status": {"conditions": [{"type": "Updated", "status": updated}, {"type": "Degraded", "status": "False"}],
                       "machineCount": 3, "updatedMachineCount": 3 if updated == "True" else 1,
                       "configuration": {"name": "rendered-%s-abc" % name}}}


READS = [{"resources": [{"spec": {"featureSet": "CustomNoUpgrade", "customNoUpgrade": {"enabled": ["ContainerCheckpoint"]}}}]},
         {"resources": [{"metadata": {"name": "05-worker-enable-criu"}}]},
         {"resources": [pool("worker"), pool("master", paused=True, updated="False"), pool("infra")]},
         {"resources": [node("w0", "b"), node("w1", "x"), node("new", "n")]}]


def test_state_after_a_rollout():
    got = state.state(READS, ["05-worker-enable-criu", "05-master-enable-criu"], ["worker", "master"],
                      {"resources": [node("w0", "a"), node("w1", "x")]}, [], True)
    assert got["feature_gate"] == {"feature_set": "CustomNoUpgrade", "enabled": ["ContainerCheckpoint"]}
    assert got["machine_configs"] == {"present": ["05-worker-enable-criu"], "absent": ["05-master-enable-criu"]}
    assert sorted(got["pools"]) == ["master", "worker"] and got["pools"]["master"]["paused"] is True
    assert got["rebooted_nodes"] == ["w0"]  # a node that joined since is not "rebooted"
    lines = state.lines(got)
    assert lines[0] == "FeatureGate cluster: featureSet CustomNoUpgrade, enabled: ContainerCheckpoint"
    assert lines[2] == ("MachineConfigPool master: PAUSED, Updated=False Updating=Unknown Degraded=False, "
                        "1/3 machines updated, config rendered-master-abc")
    assert lines[-1] == "Nodes rebooted by this run: w0"


def test_failed_reads_are_unknown_not_errors():
    got = state.state([{"failed": True, "msg": "503"}] * 4, ["05-worker-enable-criu"], ["worker"], {}, [], False)
    assert got["feature_gate"] == {"feature_set": "unknown", "enabled": "unknown"}
    assert got["machine_configs"] == "unknown" and got["pools"] == "unknown" and got["rebooted_nodes"] == "unknown"
    assert state.lines(got) == ["FeatureGate cluster: featureSet unknown, enabled: unknown",
                                "MachineConfigs: unknown (could not read them)",
                                "MachineConfigPools: unknown (could not read them)",
                                "Nodes rebooted by this run: unknown (could not read the nodes)"]


def test_default_feature_set_and_nothing_rebooted():
    reads = [{"resources": [{"spec": {}}]}, {"resources": []}, {"resources": []}, {"resources": [node("w0", "a")]}]
    got = state.state(reads, [], [], {"resources": [node("w0", "a")]}, ["infra"], True)
    assert got["feature_gate"]["feature_set"] == "Default" and got["rebooted_nodes"] == []
    assert "Nodes rebooted by this run: none" in state.lines(got) and got["paused_before"] == ["infra"]
