# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role checkpoint_analyser: the DaemonSet, its ServiceAccount and SCC RBAC; idempotence, check
mode, node selection and removal. Against a real cluster it needs FORENSIC_ANALYSER_IMAGE (an
image built from roles/checkpoint_analyser/files/Containerfile that the nodes can pull)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from rolehelpers import changed_tasks, explain

NS = "forensic-analyser-test"
PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - forensic.checkpoint.checkpoint_analyser
"""


@pytest.fixture
def analyser_vars(cluster):
    image = os.environ.get("FORENSIC_ANALYSER_IMAGE")
    if cluster.real and not image:
        pytest.skip("set FORENSIC_ANALYSER_IMAGE to deploy the analyser on a real cluster")
    if cluster.sim is not None:
        cluster.sim.reset()
    values = {"checkpoint_analyser_namespace": NS, "checkpoint_analyser_wait_timeout": 300}
    if image:
        values["checkpoint_analyser_image"] = image
    return values


def _get(cluster, api_version, kind, name, namespace=None):
    from kubernetes.dynamic.exceptions import NotFoundError

    api = cluster.dynamic().resources.get(api_version=api_version, kind=kind)
    try:
        return api.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _nodes(cluster):
    return cluster.dynamic().resources.get(api_version="v1", kind="Node").get().items


def test_deploy_idempotent_and_remove(cluster, ansible, analyser_vars):
    checked = ansible.playbook(PLAY, analyser_vars, check=True)
    assert checked.rc == 0, explain(checked)
    assert _get(cluster, "apps/v1", "DaemonSet", "checkpoint-analyser", NS) is None

    first = ansible.playbook(PLAY, analyser_vars)
    assert first.rc == 0, explain(first)
    ds = _get(cluster, "apps/v1", "DaemonSet", "checkpoint-analyser", NS)
    spec = ds["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "checkpoints")
    assert mount == {"name": "checkpoints", "mountPath": "/var/lib/kubelet/checkpoints", "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "checkpoints")
    assert volume["hostPath"]["path"] == "/var/lib/kubelet/checkpoints"
    assert ds["status"]["numberReady"] == len(_nodes(cluster))  # tolerates the masters too
    if _get(cluster, "security.openshift.io/v1", "SecurityContextConstraints", "privileged") is not None:
        binding = _get(cluster, "rbac.authorization.k8s.io/v1", "RoleBinding",
                       "checkpoint-analyser-scc-privileged", NS)
        role = _get(cluster, "rbac.authorization.k8s.io/v1", "ClusterRole", binding["roleRef"]["name"])
        assert role["rules"] == [{"apiGroups": ["security.openshift.io"], "resources": ["securitycontextconstraints"],
                                  "resourceNames": ["privileged"], "verbs": ["use"]}]

    again = ansible.playbook(PLAY, analyser_vars)
    assert again.rc == 0, explain(again)
    assert changed_tasks(again) == [], "second run changed: %s" % changed_tasks(again)

    gone = ansible.playbook(PLAY, dict(analyser_vars, checkpoint_analyser_state="absent"))
    assert gone.rc == 0, explain(gone)
    assert _get(cluster, "apps/v1", "DaemonSet", "checkpoint-analyser", NS) is None
    assert _get(cluster, "v1", "Namespace", NS) is None or \
        _get(cluster, "v1", "Namespace", NS)["metadata"].get("deletionTimestamp")


@pytest.mark.simulated_only
def test_node_selector_and_no_tolerations(cluster, ansible, analyser_vars):
    values = dict(analyser_vars, checkpoint_analyser_tolerations=[],
                  checkpoint_analyser_node_selector={"node-role.kubernetes.io/worker": ""})
    result = ansible.playbook(PLAY, values)
    assert result.rc == 0, explain(result)
    ds = _get(cluster, "apps/v1", "DaemonSet", "checkpoint-analyser", NS)
    workers = [n for n in _nodes(cluster) if "node-role.kubernetes.io/worker" in (n.to_dict()["metadata"].get("labels") or {})]
    assert ds["status"]["desiredNumberScheduled"] == len(workers) < len(_nodes(cluster))

    nowhere = ansible.playbook(PLAY, dict(values, checkpoint_analyser_name="nowhere",
                                          checkpoint_analyser_node_selector={"no-such-label": "x"},
                                          checkpoint_analyser_wait_timeout=6))
    assert nowhere.rc != 0
    assert "selects no node" in nowhere.stdout, explain(nowhere)


@pytest.mark.simulated_only
@pytest.mark.parametrize("image, reason", [
    ("quay.io/private/forensic-analyser:1", "ImagePullBackOff|ErrImagePull"),
    ("quay.io/private/forensic-analyser@sha256:" + "0" * 64, "ImagePullBackOff|ErrImagePull"),
])
def test_an_image_no_node_can_pull_fails_within_seconds_with_the_pods_message(
        cluster, ansible, analyser_vars, image, reason):
    """Issue 13 §2: the kubelet's waiting reason and message, not a 300 s timeout."""
    import re
    import time

    cluster.sim.settings(unpullable_images="^quay.io/private/")
    started = time.monotonic()
    result = ansible.playbook(PLAY, dict(analyser_vars, checkpoint_analyser_image=image,
                                         checkpoint_analyser_nodes=["worker-0"]))
    seconds = time.monotonic() - started
    assert result.rc != 0, explain(result)
    assert seconds < 120, "the pull failure took %ds to report" % seconds
    assert re.search(r"pod checkpoint-analyser-\S+ on node worker-0: (%s): " % reason, result.stdout), explain(result)


@pytest.mark.simulated_only
def test_a_notready_node_without_targets_does_not_hold_the_analyser_up(cluster, ansible, analyser_vars):
    cluster.sim.set_kubelet_ready("worker-2", False)
    try:
        result = ansible.playbook(PLAY, dict(analyser_vars, checkpoint_analyser_nodes=["worker-0", "worker-1"],
                                             checkpoint_analyser_wait_timeout=120))
        needed = ansible.playbook(PLAY, dict(analyser_vars, checkpoint_analyser_nodes=["worker-2"],
                                             checkpoint_analyser_wait_timeout=10))
    finally:
        cluster.sim.set_kubelet_ready("worker-2", True)
    assert result.rc == 0, explain(result)
    assert needed.rc != 0 and "not ready after 10s on node(s) worker-2" in needed.stdout, explain(needed)
