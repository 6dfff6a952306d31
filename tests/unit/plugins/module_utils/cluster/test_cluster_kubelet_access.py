# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API server's identity and nodes/checkpoint: asked with a SubjectAccessReview, granted once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from cluster_fake import FakeCluster

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import kubelet_access
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

ROLES = kubelet_access.RBAC + "/clusterroles"
BINDINGS = kubelet_access.RBAC + "/clusterrolebindings"


def reviewing(cluster):
    """A SubjectAccessReview answered from the bindings this collection creates."""
    asked = []

    def review(body, query):
        asked.append(body["spec"])
        granted = (BINDINGS + "/" + kubelet_access.NAME) in cluster.objects and not cluster.dry_run
        return {"status": {"allowed": granted, "reason": "RBAC: allowed" if granted else ""}}
    cluster.answers[("POST", kubelet_access.SAR)] = review
    return asked


def test_missing_permission_is_granted_once_and_the_review_is_the_kubelets_question():
    cluster = FakeCluster()
    asked = reviewing(cluster)
    result = kubelet_access.ensure(cluster)
    assert asked[0] == {"user": "system:kube-apiserver", "groups": ["kube-master"],
                        "resourceAttributes": {"verb": "create", "resource": "nodes", "subresource": "checkpoint"}}
    assert (result["changed"], result["allowed_before"], result["allowed"]) == (True, False, True)
    role = cluster.objects[ROLES + "/" + kubelet_access.NAME]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes/checkpoint"], "verbs": ["create"]}]
    binding = cluster.objects[BINDINGS + "/" + kubelet_access.NAME]
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:kube-apiserver"}]
    again = kubelet_access.ensure(cluster)
    assert again["changed"] is False and again["msg"].endswith("(create on nodes/checkpoint): RBAC: allowed")


def test_check_mode_is_a_dry_run_and_check_only_names_what_is_missing():
    cluster = FakeCluster(dry_run=True)
    reviewing(cluster)
    result = kubelet_access.ensure(cluster, check_mode=True)
    assert result["changed"] is True and result["diff"]["after"]["clusterrole"]["metadata"]["name"] == kubelet_access.NAME
    assert all(w["dry_run"] for w in cluster.writes) and not cluster.objects
    checker = FakeCluster()
    reviewing(checker)
    with pytest.raises(CheckpointError) as caught:
        kubelet_access.ensure(checker, grant=False)
    assert str(caught.value).startswith("identity system:kube-apiserver: lacks create on nodes/checkpoint")
