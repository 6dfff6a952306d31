# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication and RBAC: 401 for bad tokens, 403 worded like kube-apiserver's authorizer,
the least-privilege identities, SelfSubjectAccessReview and TokenRequest."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import uuid

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from harness.client import SimControlError


def _can(cluster, identity, verb, resource, group="", subresource="", namespace="", name=""):
    api = k8s.AuthorizationV1Api(cluster.api_client(identity))
    review = api.create_self_subject_access_review({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource,
                                        "subresource": subresource, "namespace": namespace,
                                        "name": name}}})
    return review.status.allowed


def test_bad_and_missing_tokens(cluster):
    status, _headers, body = cluster.request("GET", "/api/v1/namespaces", identity=None,
                                             headers={"Authorization": "Bearer not-a-token"})
    assert status == 401
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": "Unauthorized",
                                "reason": "Unauthorized", "code": 401}
    status, _headers, body = cluster.request("GET", "/version", identity=None)
    assert status == 200 and json.loads(body)["major"] == "1"
    status, _headers, body = cluster.request("GET", "/api/v1/namespaces", identity=None)
    assert status == 403
    assert json.loads(body)["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
        'in API group "" at the cluster scope')


def test_forbidden_messages_name_verb_resource_and_scope(cluster):
    v1 = k8s.CoreV1Api(cluster.api_client("viewer"))
    assert v1.list_node().items  # viewer may read nodes
    with pytest.raises(ApiException) as info:
        v1.delete_namespaced_config_map("anything", "default")
    assert info.value.status == 403
    body = json.loads(info.value.body)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps "anything" is forbidden: User '
        '"system:serviceaccount:forensic-identities:viewer" cannot delete resource '
        '"configmaps" in API group "" in the namespace "default"')
    assert body["details"] == {"name": "anything", "kind": "configmaps"}

    with pytest.raises(ApiException) as info:
        k8s.CoreV1Api(cluster.api_client("nobody")).list_namespace()
    assert json.loads(info.value.body)["message"] == (
        'namespaces is forbidden: User "system:serviceaccount:forensic-identities:nobody" '
        'cannot list resource "namespaces" in API group "" at the cluster scope')

    nodes = k8s.CoreV1Api(cluster.api_client()).list_node().items
    status, _headers, raw = cluster.request(
        "POST", "/api/v1/nodes/%s/proxy/checkpoint/default/none/none" % nodes[0].metadata.name,
        identity="viewer")
    assert status == 403
    assert json.loads(raw)["message"] == (
        'nodes "%s" is forbidden: User "system:serviceaccount:forensic-identities:viewer" '
        'cannot create resource "nodes/proxy" in API group "" at the cluster scope'
        % nodes[0].metadata.name)

    with pytest.raises(ApiException) as info:
        k8s.CustomObjectsApi(cluster.api_client("checkpointer")).patch_cluster_custom_object(
            "config.openshift.io", "v1", "featuregates", "cluster", {"spec": {}})
    assert json.loads(info.value.body)["message"] == (
        'featuregates.config.openshift.io "cluster" is forbidden: User '
        '"system:serviceaccount:forensic-identities:checkpointer" cannot patch resource '
        '"featuregates" in API group "config.openshift.io" at the cluster scope')


@pytest.mark.parametrize("identity,verb,resource,group,subresource,allowed", [
    ("checkpointer", "create", "nodes", "", "proxy", True),
    ("checkpointer", "list", "pods", "", "", True),
    ("checkpointer", "delete", "pods", "", "", False),
    ("viewer", "create", "nodes", "", "proxy", False),
    ("viewer", "get", "secrets", "", "", False),
    ("enabler", "patch", "featuregates", "config.openshift.io", "", True),
    ("enabler", "create", "machineconfigs", "machineconfiguration.openshift.io", "", True),
    ("enabler", "patch", "machineconfigpools", "machineconfiguration.openshift.io", "", True),
    ("enabler", "create", "nodes", "", "proxy", False),
    ("analyst", "create", "daemonsets", "apps", "", True),
    ("analyst", "create", "pods", "", "exec", True),
    ("analyst", "patch", "featuregates", "config.openshift.io", "", False),
    ("nobody", "get", "pods", "", "", False),
    ("admin", "delete", "nodes", "", "", True),
])
def test_least_privilege_identities(cluster, identity, verb, resource, group, subresource,
                                    allowed):
    assert _can(cluster, identity, verb, resource, group, subresource, "demo") is allowed


def test_kubectl_auth_can_i_uses_the_same_rules(cluster):
    yes = cluster.kubectl("auth", "can-i", "create", "nodes", "--subresource=proxy",
                          identity="checkpointer")
    no = cluster.kubectl("auth", "can-i", "create", "nodes", "--subresource=proxy",
                         identity="viewer")
    assert (yes.stdout.strip(), yes.returncode) == ("yes", 0)
    assert (no.stdout.strip(), no.returncode) == ("no", 1)


def test_token_request_tokens_work_and_die_with_their_service_account(cluster):
    admin = k8s.CoreV1Api(cluster.api_client())
    name = "tok-" + uuid.uuid4().hex[:6]
    admin.create_namespaced_service_account("default", {"metadata": {"name": name}})
    try:
        answer = admin.create_namespaced_service_account_token(
            name, "default", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                              "spec": {"expirationSeconds": 600}})
        token = answer.status.token
        status, _headers, body = cluster.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
             "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}},
            identity=None, headers={"Authorization": "Bearer " + token})
        assert status == 201 and json.loads(body)["status"]["allowed"] is False
    finally:
        admin.delete_namespaced_service_account(name, "default")
    status, _headers, _body = cluster.request("GET", "/api/v1/namespaces/default/pods",
                                              identity=None,
                                              headers={"Authorization": "Bearer " + token})
    assert status == 401


@pytest.mark.simulated_only
def test_control_api_is_for_admins_only(cluster):
    status, _headers, body = cluster.request("GET", "/_simcluster/v1/state", identity="viewer")
    assert status == 403 and b"system:masters only" in body
    status, _headers, _body = cluster.request("GET", "/_simcluster/v1/state", identity="admin")
    assert status == 200


@pytest.mark.simulated_only
def test_identities_with_inline_rules(cluster):
    token = cluster.sim.add_identity(
        "cm-reader-" + uuid.uuid4().hex[:4],
        rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"],
                "namespaces": ["demo"]}])
    headers = {"Authorization": "Bearer " + token}
    assert cluster.request("GET", "/api/v1/namespaces/demo/configmaps", identity=None,
                           headers=headers)[0] == 200
    assert cluster.request("GET", "/api/v1/namespaces/default/configmaps", identity=None,
                           headers=headers)[0] == 403
    with pytest.raises(SimControlError):
        cluster.sim.add_identity("admin")
