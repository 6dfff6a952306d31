# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenShift's cluster configuration machinery, reduced to what the checkpoint workflow meets.

* FeatureGate ``cluster`` -> ``98-<pool>-generated-kubelet`` MachineConfigs carrying the
  kubelet's featureGates (as the MCO's kubelet-config controller does); a NoUpgrade featureSet
  also makes ClusterVersion say Upgradeable=False.
* Render controller: merges the MachineConfigs a pool selects into ``rendered-<pool>-<hash>``
  and points ``spec.configuration`` at it, a little after the MachineConfigs change (so a pool
  can still say Updated=True right after a new MachineConfig). Paused pools render too.
* Node controller: unless the pool is paused, moves at most ``maxUnavailable`` nodes at a time
  to the new config by setting their desiredConfig annotation, and computes the pool status
  with the MCO's rules (updated/ready/unavailable/degraded machine counts and the Updated,
  Updating, Degraded, NodeDegraded and RenderDegraded conditions).
* Machine config daemon (one task per node): cordon, drain, "reboot", write the files, then
  currentConfig=desiredConfig and state=Done; a node told to degrade stops with state=Degraded.

What the kubelet and CRI-O on a node do is then read from the files of the node's *current*
config: the kubelet's featureGates and CRI-O's ``enable_criu_support``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import copy
import json
import logging
import os
import time

from . import disruption, ignition
from .controller import Controller
from .config import DATA_DIR
from .selectors import label_selector_object_matches
from .util import condition, dig, hex_id, now_iso, set_condition

log = logging.getLogger("simcluster.mco")

MCO = "machineconfiguration.openshift.io"
CURRENT = MCO + "/currentConfig"
DESIRED = MCO + "/desiredConfig"
STATE = MCO + "/state"
DESIRED_DRAIN = MCO + "/desiredDrain"
LAST_DRAIN = MCO + "/lastAppliedDrain"
REASON = MCO + "/reason"
ROLE = MCO + "/role"
GENERATED_BY = MCO + "/generated-by-controller-version"
CONTROLLER_VERSION = "simcluster-1a2b3c4d"
NO_UPGRADE = ("CustomNoUpgrade", "TechPreviewNoUpgrade", "DevPreviewNoUpgrade")

DEFAULT_KUBELET_GATES = {
    "APIPriorityAndFairness": True,
    "BuildCSIVolumes": True,
    "DisableKubeletCloudCredentialProviders": False,
    "DownwardAPIHugePages": True,
    "NodeSwap": False,
    "OpenShiftPodSecurityAdmission": True,
    "RetroactiveDefaultStorageClass": False,
    "RotateKubeletServerCertificate": True,
}
PREVIEW_KUBELET_GATES = {"NodeSwap": True, "DynamicResourceAllocation": True,
                         "MaxUnavailableStatefulSet": True}

CRIO_BASE = """[crio]
internal_wipe = true
storage_driver = "overlay"

[crio.api]
stream_address = ""
stream_port = "10010"

[crio.runtime]
selinux = true
conmon = ""
conmon_cgroup = "pod"
default_runtime = "runc"
log_level = "info"
cgroup_manager = "systemd"
manage_ns_lifecycle = true
drop_infra_ctr = true
default_sysctls = [
    "net.ipv4.ping_group_range=0 2147483647",
]

[crio.runtime.runtimes.runc]
runtime_root = "/run/runc"

[crio.image]
global_auth_file = "/var/lib/kubelet/config.json"
pause_image = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:%s"
pause_command = "/usr/bin/pod"

[crio.network]
network_dir = "/etc/kubernetes/cni/net.d/"
plugin_dirs = [
    "/var/lib/cni/bin",
    "/usr/libexec/cni",
]

[crio.metrics]
enable_metrics = true
metrics_port = 9537
""" % ("5" * 64)

REGISTRIES = """unqualified-search-registries = ['registry.access.redhat.com', 'docker.io']
short-name-mode = ""
"""


def _known_gates():
    with open(os.path.join(DATA_DIR, "kubelet-feature-gates.txt")) as handle:
        return {line.strip() for line in handle if line.strip() and not line.startswith("#")}


KNOWN_GATES = _known_gates()


def kubelet_conf(gates):
    conf = {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "authentication": {"x509": {"clientCAFile": "/etc/kubernetes/kubelet-ca.crt"},
                           "webhook": {"enabled": True}, "anonymous": {"enabled": False}},
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "systemd",
        "clusterDNS": ["172.30.0.10"],
        "clusterDomain": "cluster.local",
        "containerLogMaxSize": "50Mi",
        "maxPods": 250,
        "podPidsLimit": 4096,
        "rotateCertificates": True,
        "serializeImagePulls": False,
        "staticPodPath": "/etc/kubernetes/manifests",
        "systemCgroups": "/system.slice",
        "serverTLSBootstrap": True,
        "tlsMinVersion": "VersionTLS12",
        "featureGates": dict(sorted(gates.items())),
    }
    return json.dumps(conf, indent=2).encode() + b"\n"


def _file(path, data, mode=0o644):
    return {"contents": {"source": ignition.encode_source(data)}, "mode": mode,
            "overwrite": True, "path": path}


def machine_config(name, role, files=(), units=(), annotations=None, version="3.2.0"):
    meta = {"name": name, "labels": {ROLE: role}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": MCO + "/v1", "kind": "MachineConfig", "metadata": meta,
            "spec": {"config": {"ignition": {"version": version},
                                "storage": {"files": list(files)},
                                "systemd": {"units": list(units)}},
                     "extensions": [], "fips": False, "kernelArguments": [],
                     "kernelType": "", "osImageURL": ""}}


def base_machineconfigs(role, version="3.2.0"):
    """The operator-owned MachineConfigs every pool starts with."""
    owned = {GENERATED_BY: CONTROLLER_VERSION}
    kubelet_unit = {"name": "kubelet.service", "enabled": True,
                    "contents": "[Unit]\nDescription=Kubernetes Kubelet\n[Service]\n"
                                "ExecStart=/usr/bin/kubelet --config=/etc/kubernetes/"
                                "kubelet.conf\n[Install]\nWantedBy=multi-user.target\n"}
    return [
        machine_config("00-%s" % role, role, [
            _file("/etc/kubernetes/kubelet-ca.crt", "# simulated kubelet CA bundle\n"),
            _file("/etc/containers/registries.conf", REGISTRIES),
            _file("/etc/node-role", role + "\n"),
        ], [kubelet_unit], owned, version),
        machine_config("01-%s-container-runtime" % role, role, [
            _file("/etc/crio/crio.conf.d/00-default", CRIO_BASE)], (), owned, version),
        machine_config("01-%s-kubelet" % role, role, [
            _file(ignition.KUBELET_CONF, kubelet_conf(DEFAULT_KUBELET_GATES).decode())],
            (), owned, version),
        machine_config("99-%s-generated-registries" % role, role, [
            _file("/etc/containers/policy.json", '{"default":[{"type":"insecureAcceptAnything"}]}'
                  "\n")], (), owned, version),
    ]


def plain_node_files():
    """A plain Kubernetes node's kubelet and CRI-O configuration: no gate set and no
    ``enable_criu_support``, so both take their defaults (on from 1.30)."""
    return {ignition.KUBELET_CONF: kubelet_conf({}),
            ignition.CRIO_DROPIN_DIR + "00-default": CRIO_BASE.encode()}


def machine_config_pool(role, selector_label, inherit=False):
    """A pool; ``inherit``: a custom pool (e.g. infra) that also takes the worker
    MachineConfigs, as the OpenShift docs' "Creating infrastructure machine sets" shows."""
    labels = {"pools.operator.machineconfiguration.openshift.io/" + role: ""}
    if inherit:
        mc_selector = {"matchExpressions": [{"key": ROLE, "operator": "In",
                                             "values": ["worker", role]}]}
    else:
        mc_selector = {"matchLabels": {ROLE: role}}
        labels["machineconfiguration.openshift.io/mco-built-in"] = ""
    return {
        "apiVersion": MCO + "/v1", "kind": "MachineConfigPool",
        "metadata": {"name": role, "labels": labels},
        "spec": {
            "machineConfigSelector": mc_selector,
            "nodeSelector": {"matchLabels": {selector_label: ""}},
            "paused": False,
            "configuration": {},
        },
    }


def _int_or_percent(value, total, default=1):
    if value is None:
        return default
    if isinstance(value, str) and value.endswith("%"):
        try:
            return max(1, int(total * int(value[:-1]) // 100))
        except ValueError:
            return default
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


# --- node predicates, as the MCO's node controller defines them --------------------------

def _ann(node, key):
    return (node["metadata"].get("annotations") or {}).get(key, "")


def node_ready(node):
    cond = condition(dig(node, "status", "conditions"), "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    return not dig(node, "spec", "unschedulable", default=False)


def node_done(node):
    return _ann(node, CURRENT) == _ann(node, DESIRED) and _ann(node, STATE) == "Done"


def node_done_at(node, pool):
    return node_done(node) and _ann(node, CURRENT) == dig(pool, "spec", "configuration", "name")


def node_failing(node):
    if _ann(node, CURRENT) == _ann(node, DESIRED):
        return False
    return _ann(node, STATE) in ("Degraded", "Unreconcilable")


def node_unavailable(node):
    if not node_ready(node):
        return True
    if node_done(node):
        return False
    return not node_failing(node)


def node_degraded(node):
    return bool(_ann(node, DESIRED)) and _ann(node, STATE) in ("Degraded", "Unreconcilable")


def pool_status(pool, nodes, render_error=None):
    """The MachineConfigPool status the MCO would write for these nodes."""
    old = pool.get("status") or {}
    updated = [n for n in nodes if node_done_at(n, pool)]
    ready = [n for n in updated if node_ready(n)]
    unavailable = [n for n in nodes if node_unavailable(n)]
    degraded = [n for n in nodes if node_degraded(n)]
    status = {
        "observedGeneration": pool["metadata"].get("generation", 1),
        "configuration": copy.deepcopy(old.get("configuration") or {}),
        "machineCount": len(nodes),
        "updatedMachineCount": len(updated),
        "readyMachineCount": len(ready),
        "unavailableMachineCount": len(unavailable),
        "degradedMachineCount": len(degraded),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    conds = status["conditions"]
    target = dig(pool, "spec", "configuration", "name", default="")
    if render_error is not None:
        set_condition(conds, "RenderDegraded", "True", "",
                      "Failed to render configuration for pool %s: %s"
                      % (pool["metadata"]["name"], render_error))
    else:
        set_condition(conds, "RenderDegraded", "False")
    all_updated = (len(updated) == len(nodes) and len(ready) == len(nodes)
                   and not unavailable)
    if all_updated:
        set_condition(conds, "Updated", "True", "", "All nodes are updated with %s" % target)
        set_condition(conds, "Updating", "False")
        status["configuration"] = copy.deepcopy(dig(pool, "spec", "configuration",
                                                    default={}))
    else:
        set_condition(conds, "Updated", "False")
        if dig(pool, "spec", "paused", default=False):
            set_condition(conds, "Updating", "False", "",
                          "Pool is paused; will not update to %s" % target)
        else:
            set_condition(conds, "Updating", "True", "",
                          "All nodes are updating to %s" % target)
    node_message = ""
    if degraded:
        node_message = ", ".join('Node %s is reporting: "%s"' % (
            n["metadata"]["name"], _ann(n, REASON)) for n in degraded)
        set_condition(conds, "NodeDegraded", "True",
                      "%d nodes are reporting degraded status on sync" % len(degraded),
                      node_message)
    else:
        set_condition(conds, "NodeDegraded", "False")
    if degraded or render_error is not None:
        set_condition(conds, "Degraded", "True", "", node_message)
    else:
        set_condition(conds, "Degraded", "False")
    return status


class NodeRuntime:
    """What the simulator knows about a node beyond its API object."""

    def __init__(self, name):
        self.name = name
        self.degraded = None       # message when told to degrade
        self.kubelet_down = False  # told to stop posting Ready
        self.rebooting = False
        # the files the running kubelet and CRI-O read when they (re)started: a changed file
        # takes effect only when its daemon restarts (a reboot, or a disruption policy's
        # Restart), as on a real node
        self.kubelet_files = None
        self.crio_files = None
        self.last_actions = []     # the post-config-change actions of the last update
        self.disk_available = None  # bytes: a nearly full disk (control API)
        self.task = None
        self.wake = asyncio.Event()  # set on every change to the node or its runtime


class OpenShift(Controller):
    name = "mco"

    def __init__(self, sim):
        super().__init__()
        self.sim = sim
        self.store = sim.store
        reg = sim.registry
        self.rt_fg = reg.get("config.openshift.io", "featuregates")
        self.rt_cv = reg.get("config.openshift.io", "clusterversions")
        self.rt_co = reg.get("config.openshift.io", "clusteroperators")
        self.rt_mc = reg.get(MCO, "machineconfigs")
        self.rt_mcp = reg.get(MCO, "machineconfigpools")
        self.rt_node = reg.get("", "nodes")
        self.rt_mcop = reg.get("operator.openshift.io", "machineconfigurations")
        self._render_due = {}
        self._render_errors = {}
        self._files_cache = {}
        self._watched = {rt.key for rt in (self.rt_fg, self.rt_mc, self.rt_mcp, self.rt_node,
                                           self.rt_mcop) if rt is not None}

    # --- plumbing -------------------------------------------------------------------------

    def on_event(self, event):
        if event.rt.key in self._watched:
            self.trigger.set()
        if event.rt.key == self.rt_node.key:
            self.sim.node_runtime(event.obj["metadata"]["name"]).wake.set()

    def reconcile(self):
        if not self.sim.config.openshift:
            return  # plain Kubernetes: no operator, nodes keep the configuration they booted with
        self.sync_featuregate()
        self.sync_machineconfiguration()
        for pool in list(self.store.iter(self.rt_mcp)):
            self.sync_render(pool["metadata"]["name"])
        for pool in list(self.store.iter(self.rt_mcp)):
            self.sync_nodes(pool["metadata"]["name"])
        self.ensure_daemons()

    # --- FeatureGate ------------------------------------------------------------------------

    def effective_gates(self, spec):
        """Every gate this release knows, on or off: FeatureGate status lists them all, enabled and
        disabled (openshift/api config/v1 FeatureGateDetails), and the kubelet-config controller
        writes them all into kubelet.conf. NodeDisruptionPolicy (openshift/api features/features.go)
        exists from 4.16: enableIn DevPreviewNoUpgrade and TechPreviewNoUpgrade there, Default too
        from 4.17; a CustomNoUpgrade set may name it either way."""
        gates = dict(DEFAULT_KUBELET_GATES)
        feature_set = (spec or {}).get("featureSet", "")
        preview = feature_set in ("TechPreviewNoUpgrade", "DevPreviewNoUpgrade")
        if preview:
            gates.update(PREVIEW_KUBELET_GATES)
        minor = self.sim.config.openshift_minor
        if minor >= 16:
            gates["NodeDisruptionPolicy"] = minor >= 17 or preview
        if feature_set == "CustomNoUpgrade":
            custom = (spec or {}).get("customNoUpgrade") or {}
            for name in custom.get("enabled") or []:
                gates[name] = True
            for name in custom.get("disabled") or []:
                gates[name] = False
        return gates

    def sync_featuregate(self):
        fg = self.store.peek(self.rt_fg, "", "cluster")
        spec = (fg or {}).get("spec") or {}
        feature_set = spec.get("featureSet", "")
        gates = self.effective_gates(spec)
        if getattr(self, "_last_gates", None) not in (None, gates):
            # a gate change rolls a new kube-apiserver revision onto every master
            self.sim.apiserver.rollout(self.sim.settings.apiserver_rollout)
        self._last_gates = gates
        # The kubelet-config controller writes 98-<pool>-generated-kubelet for every pool from
        # install on (pkg/controller/kubelet-config, syncFeatureHandler): a gate change updates
        # it in place, no new name appears in the pool's spec.configuration.source.
        for pool in list(self.store.iter(self.rt_mcp)):
            role = pool["metadata"]["name"]
            name = "98-%s-generated-kubelet" % role
            existing = self.store.peek(self.rt_mc, "", name)
            wanted = machine_config(name, role, [_file(ignition.KUBELET_CONF,
                                                       kubelet_conf(gates).decode())],
                                    (), {GENERATED_BY: CONTROLLER_VERSION},
                                    self.sim.config.ignition_version)
            if existing is None:
                self.store.create(self.rt_mc, wanted)
            elif existing.get("spec") != wanted["spec"]:
                new = copy.deepcopy(existing)
                new["spec"] = wanted["spec"]
                self.store.write(self.rt_mc, new)
        if fg is not None:
            self._featuregate_status(fg, gates)
        self._upgradeable(feature_set)

    def _featuregate_status(self, fg, gates):
        if self.sim.config.openshift_minor < 14:
            return  # status.featureGates arrived with OpenShift 4.14
        status = {"featureGates": [{
            "version": self.sim.config.openshift_version,
            "enabled": [{"name": n} for n, on in sorted(gates.items()) if on],
            "disabled": [{"name": n} for n, on in sorted(gates.items()) if not on],
        }]}
        if fg.get("status") != status:
            new = copy.deepcopy(fg)
            new["status"] = status
            self.store.write(self.rt_fg, new)

    def _upgradeable(self, feature_set):
        blocked = feature_set in NO_UPGRADE
        message = ('Cluster operator config-operator should not be upgraded between minor '
                   'versions: FeatureGatesUpgradeable: "%s" does not allow updates'
                   % feature_set)
        reason = "FeatureGates_RestrictedFeatureGates_" + feature_set

        def mark(obj, text):
            conds = obj.setdefault("status", {}).setdefault("conditions", [])
            if blocked:
                set_condition(conds, "Upgradeable", "False", reason, text)
            elif condition(conds, "Upgradeable") is not None:
                set_condition(conds, "Upgradeable", "True")
        cv = self.store.peek(self.rt_cv, "", "version")
        if cv is not None:
            self.store.mutate(self.rt_cv, "", "version", lambda o: mark(o, message))
        if self.store.peek(self.rt_co, "", "config-operator") is not None:
            self.store.mutate(self.rt_co, "", "config-operator", lambda o: mark(
                o, 'FeatureGatesUpgradeable: "%s" does not allow updates' % feature_set))

    # --- render controller ----------------------------------------------------------------

    def _selected_mcs(self, pool):
        selector = dig(pool, "spec", "machineConfigSelector")
        return [mc for mc in self.store.iter(self.rt_mc)
                if not mc["metadata"]["name"].startswith("rendered-")
                and label_selector_object_matches(selector, mc["metadata"].get("labels"))]

    def render(self, pool):
        """(name, spec, sources) of the config a pool's MachineConfigs render to."""
        mcs = self._selected_mcs(pool)
        config = self.sim.config
        spec = ignition.merge(mcs, config.ignition_version, ignition.SUPPORTED_VERSIONS_419
                              if config.openshift_minor >= 19 else ignition.SUPPORTED_VERSIONS)
        name = ignition.rendered_name(pool["metadata"]["name"], spec)
        sources = [{"apiVersion": MCO + "/v1", "kind": "MachineConfig",
                    "name": mc["metadata"]["name"]}
                   for mc in sorted(mcs, key=lambda m: m["metadata"]["name"])]
        return name, spec, sources

    def sync_render(self, pool_name, immediate=False):
        pool = self.store.peek(self.rt_mcp, "", pool_name)
        if pool is None:
            return
        try:
            name, spec, sources = self.render(pool)
            self._render_errors.pop(pool_name, None)
        except ignition.IgnitionError as exc:
            self._render_errors[pool_name] = str(exc)
            self._render_due.pop(pool_name, None)
            return
        current = dig(pool, "spec", "configuration", default={})
        if current.get("name") == name and current.get("source") == sources:
            self._render_due.pop(pool_name, None)
            return
        now = time.monotonic()
        due = self._render_due.setdefault(pool_name, now + self.sim.settings.render_delay)
        if not immediate and now < due:
            self._wake_at(due)
            return
        self._render_due.pop(pool_name, None)
        if self.store.peek(self.rt_mc, "", name) is None:
            rendered = {
                "apiVersion": MCO + "/v1", "kind": "MachineConfig",
                "metadata": {"name": name, "annotations": {
                    GENERATED_BY: CONTROLLER_VERSION,
                    MCO + "/release-image-version": self.sim.config.openshift_version},
                    "ownerReferences": [{"apiVersion": MCO + "/v1",
                                         "kind": "MachineConfigPool", "name": pool_name,
                                         "uid": pool["metadata"]["uid"], "controller": True,
                                         "blockOwnerDeletion": True}]},
                "spec": spec,
            }
            self.store.create(self.rt_mc, rendered)

        def point(obj):
            obj["spec"]["configuration"] = {"name": name, "source": sources}
        self.store.mutate(self.rt_mcp, "", pool_name, point)
        log.info("pool %s now targets %s", pool_name, name)

    # --- node controller ------------------------------------------------------------------

    def primary_pool(self, node):
        """The one pool that manages a node, as the MCO's GetPrimaryPoolForNode picks it: the
        master pool over any other (schedulable masters also carry the worker role), a custom
        pool over worker."""
        if self.rt_mcp is None:
            return None  # plain Kubernetes: no pools
        names = [p["metadata"]["name"] for p in self.store.iter(self.rt_mcp)
                 if label_selector_object_matches(dig(p, "spec", "nodeSelector"),
                                                  node["metadata"].get("labels"))]
        if "master" in names:
            return "master"
        custom = sorted(n for n in names if n != "worker")
        return custom[0] if custom else (names[0] if names else None)

    def pool_nodes(self, pool):
        name = pool["metadata"]["name"]
        return [n for n in self.store.iter(self.rt_node) if self.primary_pool(n) == name]

    def sync_nodes(self, pool_name):
        pool = self.store.peek(self.rt_mcp, "", pool_name)
        if pool is None:
            return
        nodes = self.pool_nodes(pool)
        target = dig(pool, "spec", "configuration", "name")
        if target and not dig(pool, "spec", "paused", default=False):
            unavailable = [n for n in nodes if node_unavailable(n)]
            capacity = _int_or_percent(dig(pool, "spec", "maxUnavailable"), len(nodes)) - \
                len(unavailable)
            candidates = [n for n in nodes if _ann(n, DESIRED) != target]
            for node in candidates[:max(0, capacity)]:
                def desire(obj):
                    obj["metadata"].setdefault("annotations", {})[DESIRED] = target
                self.store.mutate(self.rt_node, "", node["metadata"]["name"], desire)
                log.info("node %s: desiredConfig=%s", node["metadata"]["name"], target)
            nodes = self.pool_nodes(pool)
        status = pool_status(pool, nodes, self._render_errors.get(pool_name))
        if status != pool.get("status"):
            new = copy.deepcopy(pool)
            new["status"] = status
            self.store.write(self.rt_mcp, new)

    # --- machine config daemon ------------------------------------------------------------

    def ensure_daemons(self):
        for node in self.store.iter(self.rt_node):
            runtime = self.sim.node_runtime(node["metadata"]["name"])
            if runtime.task is None or runtime.task.done():
                runtime.task = asyncio.get_event_loop().create_task(
                    self._daemon(runtime.name))

    def _annotate(self, node_name, **values):
        keys = {"state": STATE, "reason": REASON, "current": CURRENT, "desired": DESIRED}

        def apply(obj):
            ann = obj["metadata"].setdefault("annotations", {})
            for key, value in values.items():
                ann[keys[key]] = value
        return self.store.mutate(self.rt_node, "", node_name, apply)

    async def _daemon(self, node_name):
        runtime = self.sim.node_runtime(node_name)
        while True:
            runtime.wake.clear()  # before looking, so no change slips between look and wait
            node = self.store.peek(self.rt_node, "", node_name)
            if node is None:
                return
            if runtime.degraded is not None:
                if _ann(node, STATE) != "Degraded" or _ann(node, REASON) != runtime.degraded:
                    self._annotate(node_name, state="Degraded", reason=runtime.degraded)
                    log.info("node %s degraded: %s", node_name, runtime.degraded)
            elif _ann(node, DESIRED) and _ann(node, DESIRED) != _ann(node, CURRENT):
                await self._update(node_name, _ann(node, DESIRED))
                continue
            elif _ann(node, STATE) != "Done":
                self._annotate(node_name, state="Done", reason="")
            try:
                await asyncio.wait_for(runtime.wake.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    def _set_unschedulable(self, node_name, flag):
        def apply(obj):
            spec = obj.setdefault("spec", {})
            taints = [t for t in spec.get("taints") or []
                      if t.get("key") != "node.kubernetes.io/unschedulable"]
            if flag:
                spec["unschedulable"] = True
                taints.append({"key": "node.kubernetes.io/unschedulable",
                               "effect": "NoSchedule", "timeAdded": now_iso()})
            else:
                spec.pop("unschedulable", None)
            if taints:
                spec["taints"] = taints
            else:
                spec.pop("taints", None)
        self.store.mutate(self.rt_node, "", node_name, apply)

    async def _pause(self, seconds, node_name, target):
        """Sleep, but give up early when the node is degraded or retargeted."""
        end = time.monotonic() + seconds
        runtime = self.sim.node_runtime(node_name)
        while time.monotonic() < end:
            node = self.store.peek(self.rt_node, "", node_name)
            if node is None or runtime.degraded is not None or _ann(node, DESIRED) != target:
                return False
            await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return True

    async def _update(self, node_name, target):
        delay = self.sim.settings.rollout_delay
        runtime = self.sim.node_runtime(node_name)
        node = self.store.peek(self.rt_node, "", node_name)
        actions = disruption.actions(self._spec_of(_ann(node, CURRENT)), self._spec_of(target),
                                     self.disruption_policies(),
                                     self.sim.config.openshift_minor)
        runtime.last_actions = actions
        log.info("node %s: updating to %s (%s)", node_name, target,
                 ", ".join(a["type"] for a in actions))
        self._annotate(node_name, state="Working", reason="")
        if actions != [disruption.REBOOT]:
            await self._update_in_place(node_name, target, actions)
            return
        self._set_unschedulable(node_name, True)
        if self.sim.settings.drain and not await self._drain(node_name, target):
            return
        if not await self._pause(delay * 0.3, node_name, target):
            return
        files = self.files_for(target)
        runtime.rebooting = True
        single_master = self.sim.config.topology == "sno"
        if single_master:
            # single-node OpenShift: the only kube-apiserver goes down with the node
            self.sim.apiserver.set_down("reboot:" + node_name, True)
        self.sim.workloads.set_node_ready(node_name, False, "KubeletNotReady",
                                          "node is rebooting to apply %s" % target)
        self.sim.write_node_files(node_name, files)
        ok = await self._pause(delay * 0.5, node_name, target)
        problem = self.kubelet_problem(files)
        if ok and problem:
            # The kubelet (or CRI-O) does not come back: the node stays NotReady and the MCD
            # never reports Done, exactly what stalls a real rollout.
            self.sim.workloads.set_node_ready(node_name, False, "KubeletNotReady", problem)
            runtime.rebooting = False
            if single_master:
                self.sim.apiserver.set_down("reboot:" + node_name, False)
            while await self._pause(0.2, node_name, target):
                pass
            return
        runtime.rebooting = False
        if single_master:
            self.sim.apiserver.set_down("reboot:" + node_name, False)
        self.boot(node_name, files)
        self.sim.workloads.node_rebooted(node_name)
        if not runtime.kubelet_down:
            self.sim.workloads.set_node_ready(node_name, True)
        if not ok:
            return
        if not await self._pause(delay * 0.2, node_name, target):
            return
        self._annotate(node_name, current=target, state="Done", reason="")
        self._set_unschedulable(node_name, False)
        self._drain_annotations(node_name, "uncordon-" + target, "uncordon-" + target)
        log.info("node %s: now at %s", node_name, target)

    def _drain_annotations(self, node_name, desired, applied=None):
        def apply(obj):
            ann = obj["metadata"].setdefault("annotations", {})
            ann[DESIRED_DRAIN] = desired
            if applied is not None:
                ann[LAST_DRAIN] = applied
        self.store.mutate(self.rt_node, "", node_name, apply)

    async def _drain(self, node_name, target):
        """The drain controller's loop (pkg/controller/drain/drain_controller.go): the daemon
        asks with desiredDrain=drain-<config>; evictions refused by a PodDisruptionBudget are
        retried (1 min, then 5 min after 10 min failing, with a DrainThresholdExceeded Event)
        while the node stays cordoned and the pool Updating; lastAppliedDrain is written only
        on success."""
        wanted = "drain-" + target
        self._drain_annotations(node_name, wanted)
        started = time.monotonic()
        warned = False
        while True:
            refused = self.sim.workloads.drain(node_name)
            if not refused:
                self._drain_annotations(node_name, wanted, wanted)
                return True
            log.info("node %s: Drain failed. Waiting 1 minute then retrying. Error message "
                     "from drain: %s", node_name, "; ".join(refused))
            if not warned and time.monotonic() - started > \
                    self.sim.settings.drain_failing_threshold:
                warned = True
                self.sim.workloads.event(
                    node_name, "DrainThresholdExceeded", "Drain failed. Drain has been failing "
                    "for more than 10 minutes. Waiting 5 minutes then retrying. Error message "
                    "from drain: %s" % "; ".join(refused), event_type="Warning",
                    component="machineconfigcontroller-draincontroller")
            if not await self._pause(self.sim.settings.drain_retry, node_name, target):
                return False

    async def _update_in_place(self, node_name, target, actions):
        """A rebootless update: write the files, restart/reload what the policy names; the
        node stays schedulable and Ready and its containers keep running (drain.go:
        isDrainRequiredForNodeDisruptionActions)."""
        drain = disruption.drain_required(actions) and self.sim.settings.drain
        if drain:
            self._set_unschedulable(node_name, True)
            if not await self._drain(node_name, target):
                return
        if not await self._pause(self.sim.settings.rollout_delay * 0.3, node_name, target):
            return
        files = self.files_for(target)
        self.sim.write_node_files(node_name, files)
        runtime = self.sim.node_runtime(node_name)
        services = disruption.restarted_services(actions)
        if "crio.service" in services:
            runtime.crio_files = dict(files)
        if "kubelet.service" in services:
            runtime.kubelet_files = dict(files)
        self.sim.workloads.event(node_name, "SkipReboot", disruption.describe(actions))
        self._annotate(node_name, current=target, state="Done", reason="")
        if drain:
            self._set_unschedulable(node_name, False)
            self._drain_annotations(node_name, "uncordon-" + target, "uncordon-" + target)
        log.info("node %s: now at %s without a reboot", node_name, target)

    def _spec_of(self, rendered):
        mc = self.store.peek(self.rt_mc, "", rendered) if rendered else None
        return (mc or {}).get("spec") or {}

    # --- node disruption policies (MachineConfiguration "cluster") ------------------------

    def disruption_policies_enabled(self):
        """The NodeDisruptionPolicy gate, as effective_gates has it for FeatureGate cluster (before
        4.16 no release has the feature, whatever a custom set names)."""
        if self.sim.config.openshift_minor < 16:
            return False
        spec = (self.store.peek(self.rt_fg, "", "cluster") or {}).get("spec") or {}
        return self.effective_gates(spec)["NodeDisruptionPolicy"]

    def disruption_policies(self):
        """The merged policy the daemon acts on, or None where the feature is off."""
        if not self.disruption_policies_enabled():
            return None
        mcop = self.store.peek(self.rt_mcop, "", "cluster")
        return disruption.merged_policies(dig(mcop or {}, "spec", "nodeDisruptionPolicy"),
                                          self.sim.config.openshift_minor)

    def prune_machineconfiguration(self, obj):
        """release-4.16 installs one MachineConfiguration CRD per featureSet (install/0000_80_
        machine-config_01_machineconfigurations-<set>.crd.yaml); only the Default one lacks
        spec.nodeDisruptionPolicy (+openshift:enable:FeatureGate=NodeDisruptionPolicy), so there
        the API server drops the field as an unknown one. 4.17 has a single CRD with it."""
        spec = (self.store.peek(self.rt_fg, "", "cluster") or {}).get("spec") or {}
        if self.sim.config.openshift_minor == 16 and not spec.get("featureSet") and \
                isinstance(obj.get("spec"), dict):
            obj["spec"].pop("nodeDisruptionPolicy", None)

    def sync_machineconfiguration(self):
        mcop = self.store.peek(self.rt_mcop, "", "cluster")
        if mcop is None:
            return
        status = copy.deepcopy(mcop.get("status") or {})
        status["observedGeneration"] = mcop["metadata"].get("generation", 1)
        if self.disruption_policies_enabled():
            status["nodeDisruptionPolicyStatus"] = {
                "clusterPolicies": self.disruption_policies()}
        if status != mcop.get("status"):
            new = copy.deepcopy(mcop)
            new["status"] = status
            self.store.write(self.rt_mcop, new)

    # --- what runs on a node --------------------------------------------------------------

    def boot(self, node_name, files):
        """The node (re)started: its kubelet and CRI-O read these files."""
        runtime = self.sim.node_runtime(node_name)
        runtime.kubelet_files = dict(files)
        runtime.crio_files = dict(files)
        for name in self.kubelet_gates(files):
            if name not in KNOWN_GATES:
                # OpenShift's kubelet only warns ("UPSTREAM: <carry>: warn only about unknown
                # feature gates" in openshift/kubernetes, component-base/featuregate)
                log.warning("node %s: kubelet: unrecognized feature gate: %s", node_name, name)

    def files_for(self, rendered):
        if self.rt_mc is None:
            return plain_node_files()
        mc = self.store.peek(self.rt_mc, "", rendered)
        if mc is None:
            return {}
        key = (rendered, mc["metadata"]["resourceVersion"])
        files = self._files_cache.get(key)
        if files is None:
            files = ignition.files_of(mc.get("spec"))
            self._files_cache[key] = files
        return files

    def node_files(self, node_name):
        node = self.store.peek(self.rt_node, "", node_name)
        return self.files_for(_ann(node, CURRENT)) if node else {}

    def kubelet_gates(self, files):
        return ignition.kubelet_feature_gates(files)

    def _running(self, node_name, attr):
        files = getattr(self.sim.node_runtime(node_name), attr)
        return files if files is not None else self.node_files(node_name)

    def checkpoint_gate(self, node_name):
        """ContainerCheckpoint as the node's running kubelet sees it."""
        gates = self.kubelet_gates(self._running(node_name, "kubelet_files"))
        if "ContainerCheckpoint" in gates:
            return bool(gates["ContainerCheckpoint"])
        return self.sim.config.checkpoint_default_on

    def criu_support(self, node_name):
        settings, error = ignition.crio_config(self._running(node_name, "crio_files"))
        if error:
            return False
        value = settings.get("crio.runtime", {}).get("enable_criu_support")
        if value is None:
            return self.sim.config.checkpoint_default_on
        return value is True

    def kubelet_problem(self, files):
        """Why the kubelet or CRI-O would not start with these files (None when they would).
        Unknown kubelet gates are not among them on OpenShift (see ``boot``)."""
        settings, error = ignition.crio_config(files)
        if error:
            return "container runtime is down: crio: %s" % error
        value = settings.get("crio.runtime", {}).get("enable_criu_support")
        if value is not None and not isinstance(value, bool):
            return ("container runtime is down: crio: toml: cannot decode TOML %s into struct "
                    "field config.RuntimeConfig.EnableCriuSupport of type bool"
                    % type(value).__name__)
        return None

    def configz(self, node_name):
        conf = ignition.kubelet_feature_gates(self._running(node_name, "kubelet_files"))
        return {"kubeletconfig": {"featureGates": conf, "maxPods": 250,
                                  "cgroupDriver": "systemd"}}

    def boot_id(self):
        return "%s-%s-%s-%s-%s" % (hex_id(8), hex_id(4), hex_id(4), hex_id(4), hex_id(12))
