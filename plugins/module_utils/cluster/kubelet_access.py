# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the kubelets let the API server checkpoint, and the grant when they do not.

Through ``/api/v1/nodes/{node}/proxy/...`` the kubelet authenticates the API server's own client
certificate, never the caller, and authorises it with a SubjectAccessReview: ``POST
/checkpoint/...`` is ``create`` on ``nodes/checkpoint`` (kubelet pkg/kubelet/server/auth.go;
kubernetes#126232: the built-in ``system:kubelet-api-admin`` role lacks it, and clusters that
bind the API server to a ``nodes/proxy``-only role refuse checkpoints with a kubelet 403). The
identity is the API server's kubelet-client certificate subject: on OpenShift
``system:kube-apiserver`` in group ``kube-master``. Asked with a SubjectAccessReview for that
identity; granted with a ClusterRole and ClusterRoleBinding of this collection's own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
NAME = "forensic-checkpoint-kube-apiserver-kubelet-checkpoint"


def allowed(cluster, user, groups):
    """(allowed, reason) of create on nodes/checkpoint for ``user``/``groups``, as the kubelet asks."""
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "groups": list(groups),
                       "resourceAttributes": {"verb": "create", "resource": "nodes", "subresource": "checkpoint"}}}
    # a review is a question, not a write: never sent as a dry run
    answer = cluster.request("POST", SAR, "SubjectAccessReview for %s" % user, body=review)
    status = (answer or {}).get("status") or {}
    return bool(status.get("allowed")), status.get("reason") or status.get("evaluationError") or ""


def wanted(user, groups):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": {"app.kubernetes.io/managed-by": "forensic.checkpoint"}},
            "rules": [{"apiGroups": [""], "resources": ["nodes/checkpoint"], "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": NAME, "labels": {"app.kubernetes.io/managed-by": "forensic.checkpoint"}},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    return role, binding


def ensure(cluster, user="system:kube-apiserver", groups=("kube-master",), grant=True, check_mode=False):
    """The kubelet_checkpoint_access module's work."""
    ok, reason = allowed(cluster, user, groups)
    result = {"changed": False, "allowed_before": ok, "identity": {"user": user, "groups": list(groups)}}
    if ok:
        result.update(allowed=True, msg="the kubelets let %s checkpoint (create on nodes/checkpoint)%s" % (
            user, ": %s" % reason if reason else ""))
        return result
    if not grant:
        raise CheckpointError("identity %s" % user, "lacks create on nodes/checkpoint, which the kubelet requires of "
                              "the API server for a checkpoint through the node proxy; grant=true grants it")
    role, binding = wanted(user, groups)
    for kind, body in (("clusterroles", role), ("clusterrolebindings", binding)):
        try:
            cluster.create("%s/%s" % (RBAC, kind), "%s %s" % (body["kind"], NAME), body)
        except ApiError as err:
            if err.status != 409:
                raise
            cluster.replace("%s/%s/%s" % (RBAC, kind, NAME), "%s %s" % (body["kind"], NAME), body)
    result.update(changed=True, allowed=True if check_mode else allowed(cluster, user, groups)[0],
                  diff={"before": {}, "after": {"clusterrole": role, "clusterrolebinding": binding}},
                  msg="granted create on nodes/checkpoint to %s (ClusterRole and ClusterRoleBinding %s)%s" % (
                      user, NAME, " (check mode: server-side dry run)" if check_mode else ""))
    return result
