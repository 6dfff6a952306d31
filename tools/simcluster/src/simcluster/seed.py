# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster a fresh simulator starts with: one master and three workers, the default RBAC
roles, the OpenShift config objects, the machine config pools already rolled out, the
least-privilege identities, and the counters app in namespace ``demo``.

The counters pod carries the names, uid and IP of the bundled checkpoint fixture
(``counters-7d9f8b6c5d-x2x4q`` on worker-1, 10.130.2.99), so its checkpoint matches it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import uuid

import yaml

from . import openshift
from .auth import Identity, new_token, sa_groups, sa_user
from .config import DATA_DIR
from .kubelet import apiserver_identity
from .util import hex_id, now_iso

IDENTITIES_FILE = os.path.join(DATA_DIR, "identities.yaml")
COUNTERS_POD = "counters-7d9f8b6c5d-x2x4q"
COUNTERS_UID = "5b0f5a4e-6c1d-4f6e-9a57-2f0d3c9e1b11"
COUNTERS_CONTAINER_ID = "3517782c6eddcff9ec1766e331e6dc27a8aaa291d3db71f461393bc614ac5a6a"
COUNTERS_IMAGE = "quay.io/example/counters-app:main"

# name, role, InternalIP, pod CIDR
NODES = (
    ("master-0", "master", "10.0.0.10", "10.128.0.0/23"),
    ("worker-0", "worker", "10.0.0.21", "10.131.0.0/23"),
    ("worker-1", "worker", "10.0.0.22", "10.130.2.0/23"),
    ("worker-2", "worker", "10.0.0.23", "10.129.2.0/23"),
)
COMPACT = (
    ("master-0", "master", "10.0.0.10", "10.128.0.0/23"),
    ("master-1", "master", "10.0.0.11", "10.130.2.0/23"),
    ("master-2", "master", "10.0.0.12", "10.129.0.0/23"),
)


def nodes(workers, topology="standard"):
    """(name, role, ip, pod CIDR) of every node. ``standard``: the master and ``workers``
    workers (the first three as above, more numbered on); ``compact``: three schedulable
    masters and no workers; ``sno``: one schedulable master."""
    if topology == "compact":
        return COMPACT
    if topology == "sno":
        return COMPACT[:1]
    extra = tuple(("worker-%d" % i, "worker", "10.0.0.%d" % (21 + i), "10.%d.0.0/23" % (140 + i))
                  for i in range(3, workers))
    return NODES[:1 + workers] + extra


def counters_node(config):
    """Where the counters pod runs: worker-1 (its fixture's node), else a schedulable master."""
    return {"compact": "master-1", "sno": "master-0"}.get(config.topology, "worker-1")


NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "openshift",
              "openshift-config", "openshift-machine-config-operator", "demo")
PLAIN_NAMESPACES = tuple(ns for ns in NAMESPACES if not ns.startswith("openshift"))

DEFAULT_ROLES = [
    {"kind": "ClusterRole", "metadata": {"name": "cluster-admin"}, "rules": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]}]},
    {"kind": "ClusterRole", "metadata": {"name": "system:discovery"}, "rules": [
        {"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                             "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
         "verbs": ["get"]}]},
    {"kind": "ClusterRole", "metadata": {"name": "system:public-info-viewer"}, "rules": [
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
         "verbs": ["get"]}]},
    # upstream's bootstrap role for kubelet API clients (plugin/pkg/auth/authorizer/rbac/
    # bootstrappolicy): nodes/proxy and the specific kubelet subresources, but not
    # nodes/checkpoint (kubernetes#126232; the fix, PR #126724, was closed unmerged)
    {"kind": "ClusterRole", "metadata": {"name": "system:kubelet-api-admin"}, "rules": [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "proxy"]},
        {"apiGroups": [""], "verbs": ["*"],
         "resources": ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"]}]},
    # What the API server's kubelet-client identity holds. OpenShift's documented procedure
    # (4.13: gate, drop-in, POST) checkpoints with no RBAC step, so that identity is allowed
    # nodes/checkpoint there; kubeadm puts its apiserver-kubelet-client in a cluster-admin group.
    # Which OpenShift role grants it was not established from the sources, so the simulator
    # binds a role of its own; deleting the binding is the fault "the API server lost its
    # kubelet permission" (kubelet_checkpoint_access grants it back).
    {"kind": "ClusterRole", "metadata": {"name": "simcluster:kube-apiserver-kubelet-client"},
     "rules": [
         {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "proxy"]},
         {"apiGroups": [""], "verbs": ["*"],
          "resources": ["nodes/checkpoint", "nodes/configz", "nodes/healthz", "nodes/log",
                        "nodes/metrics", "nodes/pods", "nodes/proxy", "nodes/stats"]}]},
    {"kind": "ClusterRole", "metadata": {"name": "system:basic-user"}, "rules": [
        {"apiGroups": ["authorization.k8s.io"],
         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]}]},
]
KUBELET_CLIENT_BINDING = "system:kube-apiserver-kubelet-api-admin"
DEFAULT_BINDINGS = (
    ("cluster-admin", ["system:masters"]),
    ("system:discovery", ["system:authenticated"]),
    ("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
    ("system:basic-user", ["system:authenticated"]),
)


def load_identity_manifests(path=IDENTITIES_FILE):
    """The identities' objects (the file is one ``kind: List`` document)."""
    with open(path) as handle:
        return yaml.safe_load(handle)["items"]


def _node(name, role, ip, cidr, config):
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux", "node-role.kubernetes.io/" + role: ""}
    if config.openshift:
        labels["node.openshift.io/os_id"] = "rhcos"
    for pool, members in config.pools:
        if name in members:
            labels["node-role.kubernetes.io/" + pool] = ""
    spec = {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": "simcluster://" + name}
    if role == "master":
        labels["node-role.kubernetes.io/control-plane"] = ""
        if config.topology == "standard":
            # kubeadm taints its control plane node-role.kubernetes.io/control-plane (1.25+)
            spec["taints"] = [{"key": "node-role.kubernetes.io/master" if config.openshift else
                               "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        else:
            # compact and single-node clusters: schedulable masters carry the worker role too
            # (mastersSchedulable in the Scheduler config), but stay in the master pool
            labels["node-role.kubernetes.io/worker"] = ""
    stamp = now_iso()
    return {
        "metadata": {"name": name, "labels": labels, "annotations": {
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "4", "memory": "16393216Ki", "pods": "250",
                         "ephemeral-storage": "125293548Ki"},
            "allocatable": {"cpu": "3500m", "memory": "15242240Ki", "pods": "250",
                            "ephemeral-storage": "114396791822"},
            "conditions": [
                {"type": kind, "status": "False", "reason": reason, "message": message,
                 "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
                for kind, reason, message in (
                    ("MemoryPressure", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    ("PIDPressure", "KubeletHasSufficientPID",
                     "kubelet has sufficient PID available"))] + [
                {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                 "lastTransitionTime": stamp}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "cri-o://%s-3.rhaos4.%d.git1a2b3c4.el9"
                % (config.crio_version, config.openshift_minor) if config.openshift
                else "cri-o://%s" % config.crio_version,
                "kernelVersion": "5.14.0-284.25.1.el9_2.x86_64",
                "kubeProxyVersion": config.git_version, "kubeletVersion": config.git_version,
                "machineID": hex_id(32), "operatingSystem": "linux",
                "osImage": "Red Hat Enterprise Linux CoreOS %d%d.92.202401010000-0 (Plow)"
                % (4, config.openshift_minor) if config.openshift else "Ubuntu 24.04.1 LTS",
                "systemUUID": str(uuid.uuid4())},
        },
    }


def _openshift_objects(config):
    version = config.openshift_version
    stamp = now_iso()
    cluster_version = {
        "metadata": {"name": "version"},
        "spec": {"channel": "stable-4.%d" % config.openshift_minor,
                 "clusterID": str(uuid.uuid4())},
        "status": {
            "desired": {"version": version, "image": "quay.io/openshift-release-dev/ocp-"
                        "release@sha256:" + "e" * 64},
            "history": [{"state": "Completed", "version": version, "startedTime": stamp,
                         "completionTime": stamp, "verified": False,
                         "image": "quay.io/openshift-release-dev/ocp-release@sha256:" + "e" * 64}],
            "observedGeneration": 1,
            "versionHash": "simcluster",
            "availableUpdates": None,
            "conditions": [
                {"type": "Available", "status": "True", "lastTransitionTime": stamp,
                 "message": "Done applying %s" % version},
                {"type": "Failing", "status": "False", "lastTransitionTime": stamp},
                {"type": "Progressing", "status": "False", "lastTransitionTime": stamp,
                 "message": "Cluster version is %s" % version},
                {"type": "RetrievedUpdates", "status": "False", "lastTransitionTime": stamp,
                 "reason": "NoChannel", "message": "The update channel has not been "
                                                   "configured."},
            ],
        },
    }
    operators = []
    for name in ("config-operator", "machine-config"):
        operators.append({"metadata": {"name": name}, "spec": {}, "status": {
            "versions": [{"name": "operator", "version": version}],
            "conditions": [
                {"type": "Available", "status": "True", "lastTransitionTime": stamp},
                {"type": "Progressing", "status": "False", "lastTransitionTime": stamp},
                {"type": "Degraded", "status": "False", "lastTransitionTime": stamp},
                {"type": "Upgradeable", "status": "True", "lastTransitionTime": stamp}]}})
    feature_gate = {"metadata": {"name": "cluster", "annotations": {
        "include.release.openshift.io/self-managed-high-availability": "true"}}, "spec": {}}
    sccs = [
        {"metadata": {"name": "privileged"}, "allowPrivilegedContainer": True,
         "allowHostDirVolumePlugin": True, "allowHostIPC": True, "allowHostNetwork": True,
         "allowHostPID": True, "allowHostPorts": True, "allowedCapabilities": ["*"],
         "runAsUser": {"type": "RunAsAny"}, "seLinuxContext": {"type": "RunAsAny"},
         "fsGroup": {"type": "RunAsAny"}, "supplementalGroups": {"type": "RunAsAny"},
         "volumes": ["*"], "users": ["system:admin"], "groups": [],
         "readOnlyRootFilesystem": False, "priority": None},
        {"metadata": {"name": "restricted-v2"}, "allowPrivilegedContainer": False,
         "allowHostDirVolumePlugin": False, "allowHostIPC": False, "allowHostNetwork": False,
         "allowHostPID": False, "allowHostPorts": False,
         "allowedCapabilities": ["NET_BIND_SERVICE"],
         "requiredDropCapabilities": ["ALL"], "runAsUser": {"type": "MustRunAsRange"},
         "seLinuxContext": {"type": "MustRunAs"}, "fsGroup": {"type": "MustRunAs"},
         "supplementalGroups": {"type": "RunAsAny"}, "users": [], "groups": [],
         "volumes": ["configMap", "downwardAPI", "emptyDir", "ephemeral",
                     "persistentVolumeClaim", "projected", "secret"],
         "readOnlyRootFilesystem": False, "priority": None},
    ]
    return cluster_version, operators, feature_gate, sccs


# Workloads a fresh cluster can run (``--workload``), each checkpointing to its own fixture
# archive (kubelet.FIXTURES): (deployment, container, image, command, pod name, pod uid,
# container ID, node, port). counters always runs, with the names of its fixture.
APPS = {
    "counters": ("counters", "counter", COUNTERS_IMAGE, ["python3", "/app/counter.py"],
                 COUNTERS_POD, COUNTERS_UID, COUNTERS_CONTAINER_ID, None, 8080),
    "lookup": ("lookup", "lookup", "quay.io/example/lookup-app:v1", ["python3", "/app/lookup.py"],
               None, None, None, "worker-0", 8053),
    "criu41-worker": ("job-worker", "worker", "quay.io/example/job-worker:criu41",
                      ["sh", "-c", "python3 /app/worker.py"], None, None, None, "worker-2", None),
}


def _app(sim, key):
    deployment, ctr_name, image, command, pod_name, uid, container_id, node_name, port = APPS[key]
    store, reg = sim.store, sim.registry
    labels = {"app": deployment}
    container = {"name": ctr_name, "image": image, "command": command, "resources": {},
                 "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}
    if port:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    template = {"metadata": {"labels": dict(labels)}, "spec": {
        "containers": [container], "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler"}}
    dep = store.create(reg.get("apps", "deployments"), {
        "metadata": {"name": deployment, "namespace": "demo", "labels": dict(labels),
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                 "template": template, "revisionHistoryLimit": 10,
                 "progressDeadlineSeconds": 600,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                     "maxUnavailable": "25%", "maxSurge": "25%"}}}})
    rs_hash = "7d9f8b6c5d" if key == "counters" else hex_id(10)
    rs_template = {"metadata": {"labels": dict(labels, **{"pod-template-hash": rs_hash})},
                   "spec": template["spec"]}
    rs = store.create(reg.get("apps", "replicasets"), {
        "metadata": {"name": "%s-%s" % (deployment, rs_hash), "namespace": "demo",
                     "labels": dict(rs_template["metadata"]["labels"]),
                     "annotations": {"deployment.kubernetes.io/revision": "1",
                                     "deployment.kubernetes.io/desired-replicas": "1"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": deployment, "uid": dep["metadata"]["uid"],
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(
            labels, **{"pod-template-hash": rs_hash})}, "template": rs_template}})
    stamp = now_iso()
    all_nodes = nodes(sim.config.workers, sim.config.topology)
    names = [n[0] for n in all_nodes]
    node_name = counters_node(sim.config) if key == "counters" else (
        node_name if node_name in names else names[-1])
    node = next(n for n in all_nodes if n[0] == node_name)
    pod_ip = str(ipaddress.ip_network(node[3])[99 if key == "counters" else 98 - len(
        sim.original_containers)])
    container_id = container_id or hex_id(64)
    pod_spec = dict(rs_template["spec"], nodeName=node_name, serviceAccountName="default",
                    serviceAccount="default")
    meta = {"name": pod_name or "%s-%s-%s" % (deployment, rs_hash, hex_id(5)),
            "namespace": "demo", "labels": dict(rs_template["metadata"]["labels"]),
            "annotations": {"openshift.io/scc": "restricted-v2"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"],
                                 "controller": True, "blockOwnerDeletion": True}]}
    if uid:
        meta["uid"] = uid
    pod = store.create(reg.get("", "pods"), {
        "metadata": meta,
        "spec": pod_spec,
        "status": {
            "phase": "Running", "hostIP": node[2], "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}], "startTime": stamp, "qosClass": "BestEffort",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{
                "name": ctr_name, "ready": True, "started": True, "restartCount": 0,
                "image": image, "imageID": image.split(":")[0] + "@sha256:" + "ab" * 32,
                "containerID": "cri-o://" + container_id,
                "state": {"running": {"startedAt": stamp}}, "lastState": {}}],
        }}, keep_status=True, keep_meta=bool(uid))
    sim.original_containers.add(container_id)
    if key == "counters":
        sim.workloads.append_log("demo", pod["metadata"]["name"], ctr_name,
                                 "Serving counters on http://0.0.0.0:8080")
    if port:
        store.create(reg.get("", "services"), {
            "metadata": {"name": deployment, "namespace": "demo", "labels": dict(labels)},
            "spec": {"selector": dict(labels), "type": "ClusterIP",
                     "clusterIP": "172.30.81.%d" % (12 + len(sim.original_containers)),
                     "clusterIPs": ["172.30.81.%d" % (12 + len(sim.original_containers))],
                     "ports": [{"name": "http", "port": port, "protocol": "TCP",
                                "targetPort": port}]}})


def _apply(sim, doc):
    rt = sim.registry.by_kind(doc.get("apiVersion", "v1"), doc.get("kind", ""))
    if rt is None:
        raise ValueError("unknown kind in seed data: %s" % doc.get("kind"))
    return sim.store.create(rt, doc, keep_status=True)


def seed(sim, identities_file=""):
    """Populate a fresh store and return the static identities (name -> Identity)."""
    store, reg, config = sim.store, sim.registry, sim.config
    for ns in NAMESPACES if config.openshift else PLAIN_NAMESPACES:
        _apply(sim, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                     "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    for role in DEFAULT_ROLES:
        _apply(sim, dict(role, apiVersion="rbac.authorization.k8s.io/v1"))
    user, groups = apiserver_identity(config)
    _apply(sim, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": KUBELET_CLIENT_BINDING},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "cluster-admin" if not config.openshift
                             else "simcluster:kube-apiserver-kubelet-client"},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                               "name": user} if config.openshift else
                              {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                               "name": groups[0]}]})
    for role, groups in DEFAULT_BINDINGS:
        _apply(sim, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": role},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                 "kind": "ClusterRole", "name": role},
                     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                   "name": g} for g in groups]})
    for name, role, ip, cidr in nodes(config.workers, config.topology):
        node = _node(name, role, ip, cidr, config)
        store.create(reg.get("", "nodes"), node, keep_status=True)
    if config.openshift:
        _seed_openshift(sim)
    else:
        for name, _role, _ip, _cidr in nodes(config.workers, config.topology):
            files = openshift.plain_node_files()
            sim.write_node_files(name, files)
            sim.openshift.boot(name, files)
    return _seed_rest(sim, identities_file)


def _seed_openshift(sim):
    """The OpenShift objects: ClusterVersion, operators, FeatureGate, SCCs, MachineConfigs and
    pools, with every node on its pool's rendered config."""
    store, reg, config = sim.store, sim.registry, sim.config
    cluster_version, operators, feature_gate, sccs = _openshift_objects(config)
    store.create(reg.get("config.openshift.io", "clusterversions"), cluster_version,
                 keep_status=True)
    for co in operators:
        store.create(reg.get("config.openshift.io", "clusteroperators"), co, keep_status=True)
    store.create(reg.get("config.openshift.io", "featuregates"), feature_gate)
    if config.openshift_minor >= 16:
        # the MCO's knobs object: its CRD ships from release-4.16 (install/0000_80_machine-config_01_
        # machineconfigurations*.crd.yaml) and pkg/operator/sync.go syncMachineConfiguration creates
        # "cluster" whatever the NodeDisruptionPolicy gate says; the gate only decides whether the
        # spec field exists (4.16 Default CRD: no) and whether the operator writes the merged status
        store.create(reg.get("operator.openshift.io", "machineconfigurations"), {
            "metadata": {"name": "cluster"},
            "spec": {"logLevel": "Normal", "managementState": "Managed",
                     "operatorLogLevel": "Normal"}})
    for scc in sccs:
        store.create(reg.get("security.openshift.io", "securitycontextconstraints"), scc)

    rt_mc = reg.get(openshift.MCO, "machineconfigs")
    rt_mcp = reg.get(openshift.MCO, "machineconfigpools")
    rt_node = reg.get("", "nodes")
    for role in ("master", "worker"):
        for mc in openshift.base_machineconfigs(role, config.ignition_version):
            store.create(rt_mc, mc)
    for role in ("master", "worker") + tuple(name for name, _members in config.pools):
        store.create(rt_mcp, openshift.machine_config_pool(
            role, "node-role.kubernetes.io/" + role, inherit=role not in ("master", "worker")))
    # the kubelet-config controller writes 98-<pool>-generated-kubelet for every pool at install
    sim.openshift.sync_featuregate()
    for role in ("master", "worker") + tuple(name for name, _members in config.pools):
        sim.openshift.sync_render(role, immediate=True)
        pool = store.peek(rt_mcp, "", role)
        rendered = pool["spec"]["configuration"]["name"]
        for node in sim.openshift.pool_nodes(pool):
            name = node["metadata"]["name"]

            def settle(obj, target=rendered):
                obj["metadata"]["annotations"].update({
                    openshift.CURRENT: target, openshift.DESIRED: target,
                    openshift.STATE: "Done", openshift.REASON: ""})
            store.mutate(rt_node, "", name, settle)
            sim.write_node_files(name, sim.openshift.files_for(rendered))
            sim.openshift.boot(name, sim.openshift.files_for(rendered))
        sim.openshift.sync_nodes(role)


def _seed_rest(sim, identities_file):
    """The apps and the identities, on either distribution."""
    config = sim.config
    for key in ("counters",) + tuple(k for k in config.workloads if k != "counters"):
        _app(sim, key)

    identities = {}
    admin = Identity("admin", "system:admin", ("system:masters", "system:authenticated"),
                     new_token(), description="cluster-admin (system:masters)")
    identities["admin"] = admin
    for doc in load_identity_manifests():
        _apply(sim, doc)
        if doc.get("kind") == "ServiceAccount":
            ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
            identities[name] = Identity(name, sa_user(ns, name), sa_groups(ns), new_token(),
                                        description="ServiceAccount %s/%s, see %s"
                                        % (ns, name, os.path.basename(IDENTITIES_FILE)))
    if identities_file:
        with open(identities_file) as handle:
            extra = yaml.safe_load(handle) or {}
        for name, spec in extra.items():
            identities[name] = Identity(
                name, spec.get("user", "simcluster:" + name),
                tuple(spec.get("groups") or ()) + ("system:authenticated",),
                spec.get("token") or new_token(), spec.get("rules"),
                spec.get("description", "from %s" % identities_file))
    return identities
