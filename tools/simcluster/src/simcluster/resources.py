# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API surface: which resources exist, their scope, verbs and subresources, and the
discovery documents (``/api``, ``/apis``, ``/apis/<group>/<version>``) built from them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
from dataclasses import dataclass, field

CRUD = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
REVIEW = ("create",)

# Field labels every namespaced/cluster resource accepts; pods and a few others accept more.
_META_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class Subresource:
    name: str
    verbs: tuple
    kind: str
    group: str = ""
    version: str = ""


STATUS = Subresource("status", ("get", "patch", "update"), "")
SCALE = Subresource("scale", ("get", "patch", "update"), "Scale", "autoscaling", "v1")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple = ()
    categories: tuple = ()
    verbs: tuple = CRUD
    subresources: tuple = ()
    # Built-in types support strategic merge patch and list their items without kind/apiVersion;
    # CRD-backed (OpenShift) types do neither, as on a real server.
    builtin: bool = True
    # metadata.generation is bumped on spec changes (CRDs: on any non-metadata, non-status change).
    generation: bool = False
    fields: tuple = ()
    stored: bool = True
    singular: str = field(default="")

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_resource(self):
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def key(self):
        return (self.group, self.plural)

    @property
    def list_kind(self):
        return self.kind + "List"

    @property
    def field_labels(self):
        return (_META_FIELDS if self.namespaced else ("metadata.name",)) + self.fields

    def subresource(self, name):
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    @property
    def has_status(self):
        return self.subresource("status") is not None

    @property
    def singular_name(self):
        return self.singular or self.kind.lower()


def _rt(group, version, kind, plural, namespaced, **kw):
    return ResourceType(group, version, kind, plural, namespaced, **kw)


POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
              "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
              "status.nominatedNodeName")
EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion",
                "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                "reportingComponent", "source", "type")

RESOURCES = (
    _rt("", "v1", "Namespace", "namespaces", False, short_names=("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=(Subresource("finalize", ("update",), "Namespace"),
                      Subresource("status", ("get", "patch", "update"), "Namespace")),
        fields=("status.phase",)),
    _rt("", "v1", "Node", "nodes", False, short_names=("no",),
        subresources=(Subresource("proxy", ("create", "delete", "get", "patch", "update"),
                                  "NodeProxyOptions"),
                      Subresource("status", ("get", "patch", "update"), "Node")),
        fields=("spec.unschedulable",)),
    _rt("", "v1", "Pod", "pods", True, short_names=("po",), categories=("all",),
        subresources=(Subresource("eviction", ("create",), "Eviction", "policy", "v1"),
                      Subresource("exec", ("create", "get"), "PodExecOptions"),
                      Subresource("log", ("get",), "Pod"),
                      Subresource("status", ("get", "patch", "update"), "Pod")),
        fields=POD_FIELDS),
    _rt("", "v1", "Service", "services", True, short_names=("svc",), categories=("all",),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update",
               "watch"),
        subresources=(Subresource("status", ("get", "patch", "update"), "Service"),)),
    _rt("", "v1", "ConfigMap", "configmaps", True, short_names=("cm",)),
    _rt("", "v1", "Secret", "secrets", True, fields=("type",)),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", True, short_names=("sa",),
        subresources=(Subresource("token", ("create",), "TokenRequest", "authentication.k8s.io",
                                  "v1"),)),
    _rt("", "v1", "Event", "events", True, short_names=("ev",), fields=EVENT_FIELDS),
    _rt("apps", "v1", "Deployment", "deployments", True, short_names=("deploy",),
        categories=("all",), generation=True,
        subresources=(SCALE, Subresource("status", STATUS.verbs, "Deployment"))),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, short_names=("rs",),
        categories=("all",), generation=True, fields=("status.replicas",),
        subresources=(SCALE, Subresource("status", STATUS.verbs, "ReplicaSet"))),
    _rt("apps", "v1", "DaemonSet", "daemonsets", True, short_names=("ds",), categories=("all",),
        subresources=(Subresource("status", STATUS.verbs, "DaemonSet"),), generation=True),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        False, verbs=REVIEW, stored=False),
    _rt("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
        False, verbs=REVIEW, stored=False),
    _rt("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False,
        verbs=REVIEW, stored=False),
    _rt("config.openshift.io", "v1", "ClusterOperator", "clusteroperators", False,
        short_names=("co",), builtin=False, generation=True,
        subresources=(Subresource("status", STATUS.verbs, "ClusterOperator"),)),
    _rt("config.openshift.io", "v1", "ClusterVersion", "clusterversions", False,
        builtin=False, generation=True,
        subresources=(Subresource("status", STATUS.verbs, "ClusterVersion"),)),
    _rt("config.openshift.io", "v1", "FeatureGate", "featuregates", False, builtin=False,
        generation=True, subresources=(Subresource("status", STATUS.verbs, "FeatureGate"),)),
    _rt("machineconfiguration.openshift.io", "v1", "MachineConfig", "machineconfigs", False,
        short_names=("mc",), builtin=False, generation=True),
    _rt("machineconfiguration.openshift.io", "v1", "MachineConfigPool", "machineconfigpools",
        False, short_names=("mcp",), builtin=False, generation=True,
        subresources=(Subresource("status", STATUS.verbs, "MachineConfigPool"),)),
    _rt("image.openshift.io", "v1", "ImageStream", "imagestreams", True, short_names=("is",),
        categories=("all",), builtin=False, generation=True,
        subresources=(Subresource("status", STATUS.verbs, "ImageStream"),)),
    _rt("build.openshift.io", "v1", "BuildConfig", "buildconfigs", True, short_names=("bc",),
        categories=("all",), builtin=False, generation=True,
        subresources=(Subresource("instantiate", ("create",), "BuildRequest"),
                      Subresource("instantiatebinary", ("create",),
                                  "BinaryBuildRequestOptions"),
                      Subresource("status", STATUS.verbs, "BuildConfig"))),
    _rt("build.openshift.io", "v1", "Build", "builds", True, categories=("all",), builtin=False,
        generation=True, subresources=(Subresource("status", STATUS.verbs, "Build"),)),
    _rt("operator.openshift.io", "v1", "MachineConfiguration", "machineconfigurations", False,
        builtin=False, generation=True,
        subresources=(Subresource("status", STATUS.verbs, "MachineConfiguration"),)),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True,
        short_names=("pdb",), generation=True,
        subresources=(Subresource("status", STATUS.verbs, "PodDisruptionBudget"),)),
    _rt("security.openshift.io", "v1", "SecurityContextConstraints",
        "securitycontextconstraints", False, short_names=("scc",), builtin=False,
        generation=True),
)


class Registry:
    """Lookups by (group, plural), by kind and by short name."""

    def __init__(self, resources=RESOURCES):
        self.resources = tuple(resources)
        self._by_key = {rt.key: rt for rt in self.resources}
        self._by_kind = {(rt.group, rt.kind): rt for rt in self.resources}

    def get(self, group, plural):
        return self._by_key.get((group, plural))

    def by_kind(self, api_version, kind):
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        return self._by_kind.get((group, kind))

    def find_kind(self, kind):
        for rt in self.resources:
            if rt.kind == kind:
                return rt
        return None

    def group_versions(self):
        seen = {}
        for rt in self.resources:
            if rt.group:
                seen.setdefault(rt.group, rt.version)
        return seen

    def in_group_version(self, group, version):
        return [rt for rt in self.resources if rt.group == group and rt.version == version]


def _storage_hash(rt):
    # Real servers publish a hash of the storage version; clients only compare it for changes.
    text = "%s/%s/%s" % (rt.group, rt.version, rt.kind)
    return hashlib.sha256(text.encode()).hexdigest()[:11]


def resource_list(registry, group, version):
    resources = []
    for rt in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
        entry = {
            "name": rt.plural,
            "singularName": rt.singular_name,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        if rt.stored:
            entry["storageVersionHash"] = _storage_hash(rt)
        resources.append(entry)
        for sub in rt.subresources:
            sub_entry = {
                "name": "%s/%s" % (rt.plural, sub.name),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub.kind or rt.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "%s/%s" % (group, version) if group else version,
        "resources": resources,
    }


def api_versions(server_address):
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": server_address}],
    }


def api_group(group, version):
    gv = {"groupVersion": "%s/%s" % (group, version), "version": version}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def api_group_list(registry):
    groups = [api_group(g, v) for g, v in registry.group_versions().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _gv_path(group, version):
    return "api/%s" % version if not group else "apis/%s/%s" % (group, version)


def openapi_v3_root(registry):
    """``/openapi/v3``: where each group-version's document lives."""
    paths = {}
    gvs = {("", "v1")} | set(registry.group_versions().items())
    for group, version in sorted(gvs):
        path = _gv_path(group, version)
        digest = hashlib.sha256(path.encode()).hexdigest()[:32].upper()
        paths[path] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (path, digest)}
    return {"paths": paths}


def openapi_v3_gv(registry, group, version, git_version):
    """A minimal OpenAPI v3 document for one group-version: the operations and their query
    parameters, without schemas. kubectl reads it to see that the server validates fields
    itself (``fieldValidation``), which the simulator accepts but does not enforce."""
    query = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
             for n in ("dryRun", "fieldManager", "fieldValidation")]
    paths = {}
    for rt in registry.in_group_version(group, version):
        base = "/" + _gv_path(group, version)
        base += "/namespaces/{namespace}/" if rt.namespaced else "/"
        gvk = {"x-kubernetes-group-version-kind": {"group": group, "version": version,
                                                   "kind": rt.kind}}
        item = {}
        for verb in rt.verbs:
            op = {"get": "get", "update": "put", "patch": "patch", "delete": "delete"}.get(verb)
            if op:
                item[op] = dict(gvk, operationId="%s%s" % (verb, rt.kind),
                                parameters=query if op in ("put", "patch") else [],
                                responses={"200": {"description": "OK"}})
        if item:
            paths[base + rt.plural + "/{name}"] = item
        if "create" in rt.verbs or "list" in rt.verbs:
            collection = {}
            if "list" in rt.verbs:
                collection["get"] = dict(gvk, operationId="list%s" % rt.kind, parameters=[],
                                         responses={"200": {"description": "OK"}})
            if "create" in rt.verbs:
                collection["post"] = dict(gvk, operationId="create%s" % rt.kind,
                                          parameters=query,
                                          responses={"201": {"description": "Created"}})
            paths[base + rt.plural] = collection
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": git_version},
            "paths": paths, "components": {"schemas": {}}}


def _pb_string(field, text):
    data = text.encode()
    return bytes([field << 3 | 2, len(data)]) + data


def openapi_v2(git_version, protobuf=False):
    """An OpenAPI v2 document without paths or definitions: older kubectl (< 1.24) downloads
    it before client-side validation and then skips the kinds it does not describe. Served as
    the gnostic protobuf those clients ask for, or as JSON."""
    if not protobuf:
        return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": git_version},
                "paths": {}, "definitions": {}}
    info = _pb_string(1, "Kubernetes") + _pb_string(2, git_version)  # gnostic Info.version
    return _pb_string(1, "2.0") + bytes([2 << 3 | 2, len(info)]) + info + bytes([8 << 3 | 2, 0])
