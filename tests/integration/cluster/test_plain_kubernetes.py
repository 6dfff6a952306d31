# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster modules on plain Kubernetes (>= 1.30, CRI-O): no OpenShift API group at all, the
ContainerCheckpoint gate beta and on by default (1.30) and CRI-O's CRIU support on by default
(CRI-O 1.30), so nothing needs enabling. The simulator's ``--distribution kubernetes``; against a
real cluster (FORENSIC_KUBECONFIG) these run when it serves no OpenShift group and is skipped
otherwise."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

COUNTERS = {"namespace": "demo", "label_selectors": ["app=counters"]}
ANALYSER_NS = "forensic-checkpoint-plain-test"


def _status(cluster, path):
    return cluster.request("GET", path)[0]


def test_no_openshift_api_group_is_served(plain):
    cluster, _ansible = plain
    for group in ("machineconfiguration.openshift.io", "config.openshift.io", "build.openshift.io",
                  "image.openshift.io", "route.openshift.io", "security.openshift.io"):
        assert _status(cluster, "/apis/%s" % group) == 404, group


def test_preflight_passes_and_the_checkpoint_works_without_enabling(plain):
    """Nothing was enabled: the preflight reads the gate from the kubelet probe and CRI-O's
    support from its version default, and the checkpoint POST succeeds."""
    cluster, ansible = plain
    preflight = ansible.module("forensic.checkpoint.checkpoint_preflight", COUNTERS)
    assert preflight.get("failed") is not True, preflight.get("msg")
    assert preflight["ready"] is True and preflight["changed"] is False
    for node in preflight["nodes"].values():
        assert node["gate"]["enabled"] is True and "checkpoint API answers" in node["gate"]["source"]
        assert node["criu"]["enabled"] is True and node["criu"]["source"].startswith("default of CRI-O 1.")
        assert node["rendered_config"] is None and "pool" not in node

    taken = ansible.module("forensic.checkpoint.container_checkpoint", dict(COUNTERS, baseline=preflight["targets"]))
    assert taken.get("failed") is not True, taken.get("msg")
    assert taken["changed"] is True and taken["not_the_evidence"] == []
    (entry,) = taken["checkpoints"]
    assert entry["path"].startswith("/var/lib/kubelet/checkpoints/checkpoint-%s_demo-counter-" % entry["pod"])
    if cluster.sim is not None:
        local = os.path.join(cluster.sim.checkpoint_dir(entry["node"]), os.path.basename(entry["path"]))
        assert os.path.getsize(local) > 0


def test_image_build_requires_a_user_image_before_anything_is_created(plain):
    """No build API: without an image the module fails in one line naming the role variable;
    ``state: resolved`` (what the role runs before creating its namespace and ServiceAccount)
    and ``state: present`` both leave the cluster as it was."""
    cluster, ansible = plain
    args = {"namespace": ANALYSER_NS, "name": "checkpoint-analyser"}
    for state in ("resolved", "present"):
        result = ansible.module("forensic.checkpoint.image_build", dict(args, state=state))
        assert result["failed"] is True, result
        assert result["msg"].startswith("analyser image: none given, and this cluster serves no OpenShift build API")
        assert "checkpoint_analyser_image" in result["msg"] and "\n" not in result["msg"]
        assert "Traceback" not in result.stdout + result.stderr
    assert _status(cluster, "/api/v1/namespaces/%s" % ANALYSER_NS) == 404

    given = ansible.module("forensic.checkpoint.image_build",
                           dict(args, state="resolved", image="quay.io/example/analyser:0.1.0"))
    assert given.get("failed") is not True, given.get("msg")
    assert (given["changed"], given["openshift"], given["build_needed"], given["image"]) == \
        (False, False, False, "quay.io/example/analyser:0.1.0")
    bad = ansible.module("forensic.checkpoint.image_build", dict(args, state="resolved", image="Quay.io/Bad//Name"))
    assert bad["failed"] is True and "'Quay.io/Bad//Name' is not a valid image reference" in bad["msg"]
    assert _status(cluster, "/api/v1/namespaces/%s" % ANALYSER_NS) == 404
