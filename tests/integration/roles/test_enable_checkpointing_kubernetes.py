# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 13: enable.yml on plain Kubernetes (>= 1.30 with CRI-O). There are no MachineConfigPools
and no FeatureGate: the gate is on by default from 1.30 and CRI-O enables CRIU by default, so the
role changes no node configuration; it grants the kubelet access to kubeadm's API server
identity (CN kube-apiserver-kubelet-client, O kubeadm:cluster-admins: kubernetes/kubernetes
cmd/kubeadm/app/phases/certs/certlist.go KubeadmCertKubeletClient), tells per node whether
checkpointing works (checkpoint_preflight) and refuses a kubelet older than 1.30. Then the
incident run (forensic.yml) works end to end on that cluster.

Runs on the simulator's ``--distribution kubernetes`` or a real plain cluster (FORENSIC_KUBECONFIG);
the tests that break the cluster on purpose need the simulator."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

import pytest

from rolehelpers import FAST, changed_tasks, custody, documented_rules, explain, playbook, tasks_named

ACCESS_BINDING = "system:kube-apiserver-kubelet-api-admin"  # the simulator's kubeadm-like grant
OURS = "forensic-checkpoint-kube-apiserver-kubelet-checkpoint"  # kubelet_checkpoint_access's objects
SUMMARY = "Show the state of every node"


def _nodes(cluster):
    return sorted(n.metadata.name for n in cluster.dynamic().resources.get(api_version="v1", kind="Node").get().items)


def _ran(result, name):
    return [t for t in tasks_named(result, name) if not t.get("skipped")]


def _exists(cluster, path):
    return cluster.request("GET", path)[0] == 200


def test_enable_changes_no_node_grants_the_kubeadm_identity_and_reports_every_node(plain):
    cluster, ansible = plain
    removed = cluster.sim is not None and cluster.request(
        "DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s" % ACCESS_BINDING)[0] == 200
    first = ansible.playbook(playbook("enable.yml"), FAST)
    assert first.rc == 0, explain(first)
    openshift_steps = tasks_named(first, "Pause the MachineConfigPools") + tasks_named(first, "Plan what the cluster")
    assert openshift_steps and all(t.get("skipped") for t in openshift_steps)
    (access,) = _ran(first, "Let the kubelets accept checkpoints")
    assert access["identity"] == {"user": "kube-apiserver-kubelet-client", "groups": ["kubeadm:cluster-admins"]}
    assert access["allowed"] is True and access["allowed_before"] is (not removed) and access["changed"] is removed
    if removed:
        assert _exists(cluster, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s" % OURS)

    state = tasks_named(first, "Record the state (enable_checkpointing_state)")[0]["ansible_facts"]["enable_checkpointing_state"]
    assert state["distribution"] == "kubernetes" and state["ready"] is True
    assert sorted(list(state["nodes"]) + list(state["unchecked"])) == _nodes(cluster)
    lines = tasks_named(first, SUMMARY)[-1]["msg"]
    assert lines[0].startswith("Plain Kubernetes (kubelet v1.") and "no node rebooted" in lines[0], lines
    assert state["nodes"], state
    for name, node in state["nodes"].items():
        assert node["ready"] is True and node["gate"]["enabled"] is True and node["criu"]["enabled"] is True
        assert "Node %s: checkpointing works" % name in lines
    for name, why in state["unchecked"].items():
        assert "Node %s: not checked: %s" % (name, why) in lines

    again = ansible.playbook(playbook("enable.yml"), FAST)
    assert again.rc == 0 and changed_tasks(again) == [], changed_tasks(again) or explain(again)


def test_the_incident_run_works_end_to_end(plain, tmp_path):
    """forensic.yml after enable.yml: preflight, the analyser from a user image (no build API),
    checkpoint, analysis and the custody record."""
    cluster, ansible = plain
    image = os.environ.get("FORENSIC_ANALYSER_IMAGE") if cluster.sim is None else "quay.io/example/analyser:0.1.0"
    if not image:
        pytest.skip("set FORENSIC_ANALYSER_IMAGE to deploy the analyser on a real cluster")
    result = ansible.playbook(playbook("forensic.yml"), dict(
        FAST, forensic_checkpoint_namespace="demo", forensic_checkpoint_label_selectors="app=counters",
        forensic_checkpoint_report=False, forensic_checkpoint_output_dir=str(tmp_path), checkpoint_analyser_image=image))
    assert result.rc == 0, explain(result)
    (run,) = glob.glob(os.path.join(str(tmp_path), "run-*"))
    (item,) = custody(run)["items"]
    assert item["container"]["identity_changed"] == [] and item["checkpoint"]["sha256"]
    assert item["analysis"]["analyser"]["image"] == image


@pytest.mark.simulated_only
def test_a_kubelet_older_than_1_30_stops_the_role_before_anything_changes(plain):
    """Kubelets may lag the API server by up to three minors (version skew policy): one 1.29 kubelet
    has the gate off by default, so the role stops in one line saying what to do, before granting."""
    cluster, ansible = plain
    node = _nodes(cluster)[-1]
    path = "/api/v1/nodes/%s/status" % node
    status, _headers, body = cluster.request("GET", path)
    assert status == 200
    version = json.loads(body)["status"]["nodeInfo"]["kubeletVersion"]

    def patch(kubelet_version):
        return cluster.request("PATCH", path, {"status": {"nodeInfo": {"kubeletVersion": kubelet_version}}},
                               content_type="application/merge-patch+json")

    cluster.request("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s" % OURS)
    assert patch("v1.29.3")[0] == 200
    try:
        result = ansible.playbook(playbook("enable.yml"), FAST)
    finally:
        patch(version)
    assert result.rc != 0, explain(result)
    (failed,) = [t for t in tasks_named(result, "Stop when a kubelet is older than 1.30") if t.get("failed")]
    assert failed["msg"].startswith("Kubelet older than 1.30 on node(s) %s (v1.29.3): " % node), failed["msg"]
    assert "Upgrade those nodes to Kubernetes 1.30 or newer" in failed["msg"] and "\n" not in failed["msg"]
    assert not _ran(result, "Let the kubelets accept checkpoints")
    assert not _exists(cluster, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s" % OURS)


@pytest.mark.simulated_only
def test_a_node_that_cannot_checkpoint_fails_the_role_naming_it(plain):
    """The per-node verdict is checkpoint_preflight's: a node whose kubelet stopped (NotReady) is
    reported as not working and the role fails naming it."""
    cluster, ansible = plain
    pods = cluster.dynamic().resources.get(api_version="v1", kind="Pod").get(namespace="demo", label_selector="app=counters")
    node = pods.items[0].spec.nodeName
    cluster.sim.set_kubelet_ready(node, False)
    try:
        result = ansible.playbook(playbook("enable.yml"), FAST)
    finally:
        cluster.sim.set_kubelet_ready(node, True)
    lines = tasks_named(result, SUMMARY)[-1]["msg"]
    assert result.rc != 0, lines
    (line,) = [x for x in lines if x.startswith("Node %s: " % node)]
    assert line.startswith("Node %s: checkpointing does NOT work: " % node), lines
    (failed,) = [t for t in tasks_named(result, "Stop when checkpointing does not work on a node") if t.get("failed")]
    assert failed["msg"].startswith("Checkpointing does not work on node(s) %s: " % node), failed["msg"]
    assert "changes no node configuration" in failed["msg"]


@pytest.mark.simulated_only
def test_enable_runs_with_only_the_documented_enabler_rules(plain):
    """docs/roles/enable_checkpointing.md's least-privilege ClusterRole covers the plain path too
    (the pod list and the kubelet probe of the per-node check)."""
    cluster, ansible = plain
    token = cluster.sim.add_identity("documented-enabler-plain", documented_rules("enable_checkpointing", "## Least privilege"))
    result = ansible.playbook(playbook("enable.yml"), FAST, identity="enabler", env={"K8S_AUTH_API_KEY": token})
    assert result.rc == 0, explain(result)
    assert "checkpointing works" in " ".join(tasks_named(result, SUMMARY)[-1]["msg"])
    assert token not in result.stdout + result.stderr
