# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role enable_checkpointing (playbooks/enable.yml): check mode, first run, idempotence, and the
guarantee that whatever fails, the pools it paused are unpaused and every object's state is told."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from rolehelpers import FAST, changed_tasks, explain, feature_gate, machine_config_names, playbook, pools, tasks_named

ENABLE = dict(FAST, enable_checkpointing_accept_irreversible=True)
MC = "05-worker-enable-criu"

pytestmark = pytest.mark.simulated_only  # enabling CustomNoUpgrade is irreversible on a real cluster


def state_lines(result):
    shown = tasks_named(result, "Show the state of every object")
    assert shown, "the role did not report the state of the objects\n" + explain(result)
    return shown[-1]["msg"]


def test_check_mode_then_enable_then_nothing_to_do(sim_cluster, ansible):
    before = pools(sim_cluster)
    checked = ansible.playbook(playbook("enable.yml"), ENABLE, check=True)
    assert checked.rc == 0, explain(checked)
    assert feature_gate(sim_cluster)["spec"].get("featureSet", "") == ""
    assert MC not in machine_config_names(sim_cluster)
    assert {n: p["spec"].get("paused", False) for n, p in pools(sim_cluster).items()} == \
        {n: p["spec"].get("paused", False) for n, p in before.items()}

    first = ansible.playbook(playbook("enable.yml"), ENABLE)
    assert first.rc == 0, explain(first)
    gate = feature_gate(sim_cluster)["spec"]
    assert gate["featureSet"] == "CustomNoUpgrade"
    assert "ContainerCheckpoint" in gate["customNoUpgrade"]["enabled"]
    assert MC in machine_config_names(sim_cluster)
    for name, pool in pools(sim_cluster).items():
        assert not pool["spec"].get("paused"), name
        status = pool["status"]
        assert status["updatedMachineCount"] == status["machineCount"], name
        assert status["configuration"]["name"] == pool["spec"]["configuration"]["name"], name
    assert any("MachineConfigPool worker: unpaused, Updated=True" in line for line in state_lines(first))
    # the kubelet authorises the API server's identity for nodes/checkpoint: granted when missing
    (access,) = tasks_named(first, "Let the kubelets accept checkpoints")
    assert access["allowed"] is True and access["changed"] is (not access["allowed_before"]), access
    # the summary says which nodes the rollout rebooted (each got a new status.nodeInfo.bootID):
    # the gate reaches every pool, the CRI-O drop-in the workers
    assert "Nodes rebooted by this run: master-0, worker-0, worker-1, worker-2" in state_lines(first)

    again = ansible.playbook(playbook("enable.yml"), ENABLE)
    assert again.rc == 0, explain(again)
    assert changed_tasks(again) == [], "second run changed: %s" % changed_tasks(again)
    assert any("Nothing to change" in str(r.get("msg")) for r in tasks_named(again, "Say what is to be done"))
    assert "Nodes rebooted by this run: none" in state_lines(again)


def test_irreversible_switch_needs_consent_and_pauses_nothing(sim_cluster, ansible):
    result = ansible.playbook(playbook("enable.yml"), FAST)
    assert result.rc != 0
    assert "irreversible" in result.stdout.lower() or "accept_irreversible" in result.stdout
    assert not any(p["spec"].get("paused") for p in pools(sim_cluster).values())
    assert feature_gate(sim_cluster)["spec"].get("featureSet", "") == ""


def _run_in_thread(ansible, extra):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", ansible.playbook(
        playbook("enable.yml"), extra)))
    thread.start()
    return thread, box


def test_failure_while_paused_still_unpauses(sim_cluster, ansible):
    """The MachineConfig create fails (API 500) after the pools were paused."""
    thread, box = _run_in_thread(ansible, ENABLE)
    deadline = time.monotonic() + 600
    injected = False
    while thread.is_alive() and time.monotonic() < deadline:
        if any(p["spec"].get("paused") for p in pools(sim_cluster).values()):
            sim_cluster.sim.fault(status=500, resource="machineconfigs", verb="create",
                                  message="injected: etcd is unhappy")
            injected = True
            break
        time.sleep(0.1)
    thread.join(900)
    result = box["result"]
    assert injected, "the pools were never seen paused\n" + explain(result)
    assert result.rc != 0, explain(result)
    assert "injected: etcd is unhappy" in result.stdout
    assert not any(p["spec"].get("paused") for p in pools(sim_cluster).values()), explain(result)
    lines = state_lines(result)
    assert any(line.startswith("MachineConfigs present: none; absent: %s" % MC) for line in lines), lines
    assert any(line.startswith("MachineConfigPool master: unpaused") for line in lines), lines
    assert any(line.startswith("FeatureGate cluster: featureSet CustomNoUpgrade") for line in lines), lines


def test_partial_pause_and_flaky_unpause(sim_cluster, ansible):
    """Pausing worker fails after master was paused. (A 500 there would now be retried as a
    transient failure and ridden out: the refusal injected is one that retrying cannot fix.)"""
    sim_cluster.sim.fault(status=422, resource="machineconfigpools", verb="patch", name="worker",
                          times=1, message="injected: worker pool patch refused")
    result = ansible.playbook(playbook("enable.yml"), ENABLE)
    assert result.rc != 0, explain(result)
    assert "injected: worker pool patch refused" in result.stdout
    assert not any(p["spec"].get("paused") for p in pools(sim_cluster).values()), explain(result)
    assert any("MachineConfigPool master: unpaused" in line for line in state_lines(result))


def test_node_degrading_mid_rollout_fails_fast_with_pools_unpaused(sim_cluster, ansible):
    sim_cluster.sim.degrade_node("worker-1", "injected: disk pressure on /var during update")
    started = time.monotonic()
    result = ansible.playbook(playbook("enable.yml"), dict(ENABLE, enable_checkpointing_wait_timeout=600))
    assert result.rc != 0, explain(result)
    assert time.monotonic() - started < 400, "the wait did not fail fast"
    assert "worker-1" in result.stdout and "disk pressure" in result.stdout
    assert not any(p["spec"].get("paused") for p in pools(sim_cluster).values())
    assert any("Degraded=True" in line for line in state_lines(result)), state_lines(result)
