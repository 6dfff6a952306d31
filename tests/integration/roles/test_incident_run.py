# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 13 §1, never destroy the evidence: an incident run (forensic.yml) on a cluster where
checkpointing is not enabled fails at once from the preflight, saying why and what to do, and
changes nothing; opted in on a test cluster, it enables (which reboots the nodes: the MCO reboots
for a kubelet or /etc/crio/crio.conf.d change, machine-config-operator pkg/daemon/update.go, and
the simulator restarts the containers of a rebooted node) and the archives of the restarted
containers say loudly that they are not the evidence the run began with."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest

from rolehelpers import FAST, custody, explain, feature_gate, playbook, pools, tasks_named

# enabling is irreversible on a real cluster, and the evidence-loss trap needs a cluster to lose
pytestmark = pytest.mark.simulated_only

TARGET = dict(FAST, forensic_checkpoint_namespace="demo", forensic_checkpoint_label_selectors="app=counters",
              forensic_checkpoint_report=False)


def counters(cluster):
    pods = cluster.dynamic().resources.get(api_version="v1", kind="Pod").get(
        namespace="demo", label_selector="app=counters").items
    return dict((p.metadata.name, (p.metadata.uid, p.status.containerStatuses[0].containerID)) for p in pods)


def archives(cluster):
    return [f for n in ("worker-0", "worker-1", "worker-2", "master-0")
            for f in glob.glob(os.path.join(cluster.sim.checkpoint_dir(n), "*"))]


def test_incident_run_refuses_a_node_that_cannot_checkpoint_and_changes_nothing(sim_cluster, ansible, tmp_path):
    before = counters(sim_cluster)
    gate = feature_gate(sim_cluster)["spec"]
    result = ansible.playbook(playbook("forensic.yml"), dict(TARGET, forensic_checkpoint_output_dir=str(tmp_path)))
    output = result.stdout + result.stderr
    assert result.rc != 0, explain(result)
    assert "checkpointing cannot work now on node(s) worker-" in output, explain(result)
    assert "the ContainerCheckpoint feature gate is off on node worker-" in output
    assert "drains and reboots the node" in output and "run playbooks/enable.yml ahead of time" in output
    assert "forensic_enable_reboots_nodes=true" in output
    # nothing changed: no gate, no MachineConfig, pools untouched, no analyser, no archive, same containers
    assert feature_gate(sim_cluster)["spec"] == gate
    assert not any(p["spec"].get("paused") for p in pools(sim_cluster).values())
    assert sim_cluster.dynamic().resources.get(api_version="v1", kind="Namespace").get().items
    namespaces = [n.metadata.name for n in sim_cluster.dynamic().resources.get(
        api_version="v1", kind="Namespace").get().items]
    assert "forensic-checkpoint" not in namespaces
    assert archives(sim_cluster) == [] and counters(sim_cluster) == before
    assert not tasks_named(result, "Deploy the analyser DaemonSet")


def test_opted_in_the_restarted_containers_archives_say_they_are_not_the_evidence(sim_cluster, ansible, tmp_path):
    before = counters(sim_cluster)
    result = ansible.playbook(playbook("forensic.yml"), dict(
        TARGET, forensic_enable_reboots_nodes=True, enable_checkpointing_accept_irreversible=True,
        forensic_checkpoint_memory_patterns=["RANDOM_1432_KEY"], forensic_checkpoint_output_dir=str(tmp_path)))
    assert result.rc == 0, explain(result)
    # the trap itself: the secret the original process held is not in the archive (a new process)
    shown = "\n".join(tasks_named(result, "Show the findings")[-1]["msg"])
    assert "RANDOM_1432_KEY: 0 match(es)" in shown, shown
    after = counters(sim_cluster)
    (run,) = glob.glob(str(tmp_path / "run-*"))
    (item,) = custody(run)["items"]
    container = item["container"]
    # the baseline was recorded before enabling; the drain and reboot replaced the pod (a fresh
    # replica the label selector now matches) or restarted its container
    if container["pod"] in before:
        assert before[container["pod"]][1] != after[container["pod"]][1] == container["container_id"]
        assert any(change.startswith("container_id %s -> " % before[container["pod"]][1])
                   for change in container["identity_changed"]), container
    else:
        assert container["identity_changed"] == ["pod not present when the run began (a new replica?)"]
    output = result.stdout + result.stderr
    assert "NOT THE EVIDENCE ASKED FOR: demo/%s/counter was recreated or restarted" % container["pod"] in output
    with open(os.path.join(run, "summary.md")) as handle:
        assert "NOT THE EVIDENCE ASKED FOR" in handle.read()


def test_prepared_ahead_the_incident_run_passes_the_preflight_and_keeps_the_container(sim_cluster, ansible, tmp_path):
    prepared = ansible.playbook(playbook("enable.yml"), dict(FAST, enable_checkpointing_accept_irreversible=True))
    assert prepared.rc == 0, explain(prepared)
    before = counters(sim_cluster)
    result = ansible.playbook(playbook("forensic.yml"), dict(TARGET, forensic_checkpoint_output_dir=str(tmp_path)))
    assert result.rc == 0, explain(result)
    (verdict,) = tasks_named(result, "Say what the preflight found")
    assert verdict["msg"][0].startswith("checkpointing works on node(s) worker-")
    (run,) = glob.glob(str(tmp_path / "run-*"))
    (item,) = custody(run)["items"]
    assert item["container"]["identity_changed"] == []
    assert (item["container"]["pod_uid"], item["container"]["container_id"]) == before[item["container"]["pod"]]
    assert counters(sim_cluster) == before
