# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API semantics, through the official ``kubernetes`` client (dynamic client and
discovery included). Unless marked ``simulated_only`` these also run against a real cluster
(FORENSIC_KUBECONFIG) and only touch a namespace of their own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
import uuid

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from harness.testing import wait_for

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def _status(exc):
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


@pytest.fixture(scope="module")
def dyn(cluster):
    return cluster.dynamic()


@pytest.fixture(scope="module")
def namespace(cluster, dyn):
    name = "simtest-" + uuid.uuid4().hex[:8]
    ns = dyn.resources.get(api_version="v1", kind="Namespace")
    ns.create(body={"metadata": {"name": name}})
    yield name
    ns.delete(name=name)


@pytest.fixture(scope="module")
def configmaps(dyn):
    return dyn.resources.get(api_version="v1", kind="ConfigMap")


@pytest.fixture(scope="module")
def deployments(dyn):
    return dyn.resources.get(api_version="apps/v1", kind="Deployment")


def _deployment(name, containers=("app",)):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": c, "image": "registry.example/%s:1" % c}
                                        for c in containers]}}}}


# --- discovery ----------------------------------------------------------------------------------

@pytest.mark.parametrize("api_version,kind,namespaced", [
    ("v1", "Pod", True), ("v1", "Node", False), ("v1", "Namespace", False),
    ("apps/v1", "Deployment", True), ("apps/v1", "DaemonSet", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    ("config.openshift.io/v1", "FeatureGate", False),
    ("config.openshift.io/v1", "ClusterVersion", False),
    ("machineconfiguration.openshift.io/v1", "MachineConfig", False),
    ("machineconfiguration.openshift.io/v1", "MachineConfigPool", False),
    ("security.openshift.io/v1", "SecurityContextConstraints", False),
])
def test_dynamic_discovery_finds_core_and_openshift_kinds(dyn, api_version, kind, namespaced):
    resource = dyn.resources.get(api_version=api_version, kind=kind)
    assert resource.namespaced is namespaced


def test_discovery_documents(cluster):
    api = cluster.api_client()
    groups = {g.name: g for g in k8s.ApisApi(api).get_api_versions().groups}
    for group in ("apps", "rbac.authorization.k8s.io", "config.openshift.io",
                  "machineconfiguration.openshift.io"):
        assert groups[group].preferred_version.group_version.startswith(group + "/")
    core = {r.name: r for r in k8s.CoreV1Api(api).get_api_resources().resources}
    assert set(core["pods/exec"].verbs) >= {"create", "get"}
    assert "create" in core["nodes/proxy"].verbs
    assert core["pods"].short_names == ["po"] and core["pods"].namespaced
    version = k8s.VersionApi(api).get_code()
    assert version.major == "1" and version.git_version.startswith("v1.")
    if not cluster.real:
        assert version.minor == "26"


def test_unknown_kind_is_not_discovered(dyn):
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version="v1", kind="NoSuchKind")


# --- reads: selectors, pagination, watch ----------------------------------------------------------

def test_label_and_field_selectors(configmaps, namespace):
    for name, tier in (("sel-a", "a"), ("sel-b", "b"), ("sel-c", None)):
        labels = {"suite": "sel"}
        if tier:
            labels["tier"] = tier
        configmaps.create(body={"metadata": {"name": name, "labels": labels}},
                          namespace=namespace)

    def names(**kw):
        return sorted(o.metadata.name for o in configmaps.get(namespace=namespace, **kw).items)
    assert names(label_selector="tier=a") == ["sel-a"]
    assert names(label_selector="suite=sel,tier in (a,b)") == ["sel-a", "sel-b"]
    assert names(label_selector="suite=sel,!tier") == ["sel-c"]
    assert names(label_selector="suite=sel,tier!=a") == ["sel-b", "sel-c"]
    assert names(field_selector="metadata.name=sel-b") == ["sel-b"]
    assert names(label_selector="suite=sel", field_selector="metadata.name!=sel-b") == [
        "sel-a", "sel-c"]


def test_pods_by_node_name_field_selector(cluster):
    v1 = k8s.CoreV1Api(cluster.api_client())
    pods = v1.list_pod_for_all_namespaces().items
    assert pods, "the cluster runs pods"
    node = pods[0].spec.node_name
    on_node = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=" + node).items
    assert pods[0].metadata.name in [p.metadata.name for p in on_node]
    assert {p.spec.node_name for p in on_node} == {node}
    with pytest.raises(ApiException) as info:
        v1.list_pod_for_all_namespaces(field_selector="spec.image=x")
    assert info.value.status == 400
    assert "field label not supported: spec.image" in _status(info.value)["message"]


def test_list_pagination(configmaps, namespace):
    for n in range(5):
        configmaps.create(body={"metadata": {"name": "page-%d" % n, "labels": {"pg": "1"}}},
                          namespace=namespace)
    seen, token = [], None
    while True:
        page = configmaps.get(namespace=namespace, label_selector="pg=1", limit=2,
                              _continue=token)
        seen += [o.metadata.name for o in page.items]
        assert len(page.items) <= 2
        token = page.metadata["continue"]
        if not token:
            break
    assert sorted(seen) == ["page-%d" % n for n in range(5)]


def test_list_items_are_untyped_like_a_real_server(cluster, configmaps, namespace):
    configmaps.create(body={"metadata": {"name": "typed"}}, namespace=namespace)
    status, _headers, body = cluster.request("GET", "/api/v1/namespaces/%s/configmaps" % namespace)
    data = json.loads(body)
    assert status == 200
    assert (data["kind"], data["apiVersion"]) == ("ConfigMapList", "v1")
    assert data["metadata"]["resourceVersion"]
    # built-in types: list items carry no kind/apiVersion (clients fill them in) ...
    assert "kind" not in data["items"][0] and "apiVersion" not in data["items"][0]
    # ... custom resources' items do
    status, _headers, body = cluster.request(
        "GET", "/apis/machineconfiguration.openshift.io/v1/machineconfigpools")
    if status == 200:
        assert json.loads(body)["items"][0]["kind"] == "MachineConfigPool"


def test_watch_sees_added_modified_deleted(configmaps, cluster, namespace):
    v1 = k8s.CoreV1Api(cluster.api_client())
    rv = v1.list_namespaced_config_map(namespace).metadata.resource_version
    events = []
    stream = watch.Watch()

    def consume():
        for event in stream.stream(v1.list_namespaced_config_map, namespace,
                                   resource_version=rv, timeout_seconds=20,
                                   label_selector="watched=yes"):
            events.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                stream.stop()
    thread = threading.Thread(target=consume)
    thread.start()
    configmaps.create(body={"metadata": {"name": "w1", "labels": {"watched": "yes"}}},
                      namespace=namespace)
    configmaps.create(body={"metadata": {"name": "unwatched"}}, namespace=namespace)
    configmaps.patch(body={"data": {"k": "v"}}, name="w1", namespace=namespace,
                     content_type=MERGE)
    configmaps.delete(name="w1", namespace=namespace)
    thread.join(30)
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


# --- writes: create, replace, conflicts, dry run, errors -----------------------------------------

def test_create_get_replace_delete_and_status_errors(configmaps, namespace):
    made = configmaps.create(body={"metadata": {"name": "crud"}, "data": {"a": "1"}},
                             namespace=namespace)
    assert made.metadata.uid and made.metadata.resourceVersion and made.metadata.creationTimestamp
    with pytest.raises(ApiException) as info:
        configmaps.create(body={"metadata": {"name": "crud"}}, namespace=namespace)
    assert info.value.status == 409
    body = _status(info.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "crud" already exists'

    fresh = configmaps.get(name="crud", namespace=namespace).to_dict()
    fresh["data"] = {"a": "2"}
    replaced = configmaps.replace(body=fresh, namespace=namespace).to_dict()
    assert replaced["data"] == {"a": "2"}
    assert int(replaced["metadata"]["resourceVersion"]) > int(made.metadata.resourceVersion)

    stale = dict(fresh, data={"a": "3"})  # still carries the old resourceVersion
    with pytest.raises(ApiException) as info:
        configmaps.replace(body=stale, namespace=namespace)
    assert info.value.status == 409
    body = _status(info.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "crud": the object '
                               'has been modified; please apply your changes to the latest '
                               'version and try again')

    configmaps.delete(name="crud", namespace=namespace)
    with pytest.raises(ApiException) as info:
        configmaps.get(name="crud", namespace=namespace)
    assert info.value.status == 404
    body = _status(info.value)
    assert (body["reason"], body["message"]) == ("NotFound", 'configmaps "crud" not found')
    assert body["details"] == {"name": "crud", "kind": "configmaps"}


def test_unchanged_update_keeps_the_resource_version(configmaps, namespace):
    made = configmaps.create(body={"metadata": {"name": "noop"}, "data": {"a": "1"}},
                             namespace=namespace)
    again = configmaps.patch(body={"data": {"a": "1"}}, name="noop", namespace=namespace,
                             content_type=MERGE)
    assert again.metadata.resourceVersion == made.metadata.resourceVersion


def test_invalid_objects_are_422_with_causes(configmaps, deployments, namespace):
    with pytest.raises(ApiException) as info:
        configmaps.create(body={"metadata": {"name": "Not_Valid"}}, namespace=namespace)
    assert info.value.status == 422
    body = _status(info.value)
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('ConfigMap "Not_Valid" is invalid: metadata.name: '
                                      'Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain')
    assert body["details"]["causes"][0]["field"] == "metadata.name"

    bad = _deployment("mismatch")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as info:
        deployments.create(body=bad, namespace=namespace)
    assert info.value.status == 422
    assert "`selector` does not match template `labels`" in _status(info.value)["message"]


def test_server_side_dry_run(configmaps, namespace):
    dry = configmaps.create(body={"metadata": {"name": "dry"}, "data": {"a": "1"}},
                            namespace=namespace, dry_run="All")
    assert dry.metadata.name == "dry" and dry.metadata.uid
    with pytest.raises(ApiException) as info:
        configmaps.get(name="dry", namespace=namespace)
    assert info.value.status == 404

    configmaps.create(body={"metadata": {"name": "wet"}, "data": {"a": "1"}},
                      namespace=namespace)
    preview = configmaps.patch(body={"data": {"a": "2"}}, name="wet", namespace=namespace,
                               content_type=MERGE, dry_run="All")
    assert preview.to_dict()["data"] == {"a": "2"}
    assert configmaps.get(name="wet", namespace=namespace).to_dict()["data"] == {"a": "1"}
    configmaps.delete(name="wet", namespace=namespace, dry_run="All")
    assert configmaps.get(name="wet", namespace=namespace).to_dict()["data"] == {"a": "1"}


# --- patches ------------------------------------------------------------------------------------

def test_merge_and_json_patches(configmaps, namespace):
    configmaps.create(body={"metadata": {"name": "pt", "labels": {"x": "1", "y": "2"}},
                            "data": {"a": "1"}}, namespace=namespace)
    merged = configmaps.patch(body={"metadata": {"labels": {"x": None}}, "data": {"b": "2"}},
                              name="pt", namespace=namespace, content_type=MERGE).to_dict()
    assert merged["metadata"]["labels"] == {"y": "2"}
    assert merged["data"] == {"a": "1", "b": "2"}
    patched = configmaps.patch(body=[{"op": "test", "path": "/data/a", "value": "1"},
                                     {"op": "remove", "path": "/data/b"},
                                     {"op": "add", "path": "/data/c", "value": "3"}],
                               name="pt", namespace=namespace, content_type=JSON).to_dict()
    assert patched["data"] == {"a": "1", "c": "3"}
    with pytest.raises(ApiException) as info:
        configmaps.patch(body=[{"op": "test", "path": "/data/a", "value": "nope"}],
                         name="pt", namespace=namespace, content_type=JSON)
    assert info.value.status == 422


def test_strategic_merge_on_a_deployment(deployments, namespace):
    deployments.create(body=_deployment("smp", ("app", "sidecar")), namespace=namespace)
    out = deployments.patch(body={"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "MODE", "value": "debug"}]}]}}}},
        name="smp", namespace=namespace, content_type=STRATEGIC).to_dict()
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "registry.example/app:1"
    assert containers[0]["env"] == [{"name": "MODE", "value": "debug"}]
    out = deployments.patch(body={"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}},
        name="smp", namespace=namespace, content_type=STRATEGIC)
    assert [c.name for c in out.spec.template.spec.containers] == ["app"]


def test_strategic_merge_is_refused_for_custom_resources(cluster):
    status, _headers, raw = cluster.request(
        "PATCH", "/apis/config.openshift.io/v1/featuregates/cluster",
        {"metadata": {"labels": {"x": "y"}}}, content_type=STRATEGIC)
    assert status == 415
    body = json.loads(raw)
    assert body["reason"] == "UnsupportedMediaType"
    assert body["message"].startswith("the body of the request was in an unknown format - "
                                      "accepted media types include: ")


# --- generation and the status subresource -----------------------------------------------------

def test_generation_tracks_spec_changes_only(deployments, namespace):
    made = deployments.create(body=_deployment("gen"), namespace=namespace)
    assert made.metadata.generation == 1
    labelled = deployments.patch(body={"metadata": {"labels": {"extra": "1"}}}, name="gen",
                                 namespace=namespace, content_type=MERGE)
    assert labelled.metadata.generation == 1
    scaled = deployments.patch(body={"spec": {"replicas": 0, "minReadySeconds": 3}}, name="gen",
                               namespace=namespace, content_type=MERGE)
    assert scaled.metadata.generation == 2
    status = deployments.status.patch(body={"status": {"observedGeneration": 2}}, name="gen",
                                      namespace=namespace, content_type=MERGE)
    assert status.metadata.generation == 2


def test_status_is_only_written_through_the_status_subresource(deployments, namespace):
    deployments.create(body=_deployment("st"), namespace=namespace)
    ignored = deployments.patch(body={"status": {"collisionCount": 7}}, name="st",
                                namespace=namespace, content_type=MERGE).to_dict()
    assert (ignored.get("status") or {}).get("collisionCount") is None
    written = deployments.status.patch(body={"status": {"collisionCount": 7}}, name="st",
                                       namespace=namespace, content_type=MERGE)
    assert written.status.collisionCount == 7


@pytest.mark.simulated_only
def test_custom_resources_refuse_unconditional_update(cluster, dyn):
    fg = dyn.resources.get(api_version="config.openshift.io/v1", kind="FeatureGate")
    body = fg.get(name="cluster").to_dict()
    del body["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as info:
        fg.replace(body=body)
    assert info.value.status == 422
    assert "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update" in \
        _status(info.value)["message"]


def test_deleting_a_namespace_removes_its_objects(dyn, configmaps):
    name = "simtest-del-" + uuid.uuid4().hex[:6]
    ns = dyn.resources.get(api_version="v1", kind="Namespace")
    ns.create(body={"metadata": {"name": name}})
    configmaps.create(body={"metadata": {"name": "doomed"}}, namespace=name)
    assert ns.delete(name=name).status.phase == "Terminating"
    with pytest.raises(ApiException) as info:
        configmaps.create(body={"metadata": {"name": "late"}}, namespace=name)
    assert info.value.status in (403, 404)

    def gone():
        try:
            ns.get(name=name)
        except ApiException as exc:
            return exc.status == 404
        return False
    wait_for(gone, 120, what="namespace deletion")
