# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controllers and kubelet behaviour that make pods appear, run and go away.

Deployment -> ReplicaSet -> Pods (pod-template-hash names), DaemonSet -> one pod per node it
tolerates and selects, a scheduler honouring nodeSelector, node affinity, taints and
cordoned nodes, pods going Pending -> Running after a short delay, graceful deletion,
owner-reference garbage collection, namespace deletion and each namespace's ``default``
ServiceAccount. Rolling updates are not staged: a changed template replaces the pods at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import json
import logging
import time

from . import admission, errors, images
from .controller import Controller
from .selectors import label_selector_object_matches
from .util import condition, dig, hex_id, now_iso, parse_iso, safe_hash, set_condition

log = logging.getLogger("simcluster.workloads")

DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
     "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def tolerates(tolerations, taint):
    for tol in tolerations or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and \
                (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _node_term_matches(term, node):
    labels = node["metadata"].get("labels") or {}
    for expr in term.get("matchExpressions") or []:
        selector = {"matchExpressions": [expr]}
        if expr.get("operator") in ("Gt", "Lt"):
            try:
                value = int(labels.get(expr["key"], ""))
                bound = int((expr.get("values") or ["0"])[0])
            except ValueError:
                return False
            if not (value > bound if expr["operator"] == "Gt" else value < bound):
                return False
        elif not label_selector_object_matches(selector, labels):
            return False
    for expr in term.get("matchFields") or []:
        if expr.get("key") == "metadata.name":
            inside = node["metadata"]["name"] in (expr.get("values") or [])
            if inside != (expr.get("operator") == "In"):
                return False
    return True


def fits(pod_spec, node, ignore_unschedulable=False, running=False):
    """Whether the scheduler may place a pod with this spec on the node; ``running``: whether
    a pod already there may stay (only untolerated NoExecute taints evict, as in the
    DaemonSet controller's nodeShouldRunDaemonPod)."""
    labels = node["metadata"].get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = dig(pod_spec, "affinity", "nodeAffinity",
                   "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    if required and not any(_node_term_matches(t, node) for t in required):
        return False
    tolerations = pod_spec.get("tolerations") or []
    for taint in dig(node, "spec", "taints", default=[]):
        if taint.get("effect") not in (("NoExecute",) if running else ("NoSchedule",
                                                                       "NoExecute")):
            continue
        if ignore_unschedulable and taint.get("key") == "node.kubernetes.io/unschedulable":
            continue
        if not tolerates(tolerations, taint):
            return False
    if dig(node, "spec", "unschedulable") and not ignore_unschedulable and not tolerates(
            tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
        return False
    return True


def template_hash(template):
    clean = copy.deepcopy(template)
    (clean.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return safe_hash(json.dumps(clean, sort_keys=True))


def _owner_ref(owner, kind, api_version):
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _owned_by(obj, uid):
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _active(pod):
    return not pod["metadata"].get("deletionTimestamp") and \
        dig(pod, "status", "phase") not in ("Succeeded", "Failed")


def _ready(pod):
    cond = condition(dig(pod, "status", "conditions"), "Ready")
    return bool(cond and cond.get("status") == "True")


# Pods that go bad once started, for tests of what a checkpoint run must skip: annotate the
# pod (template) with simcluster.io/simulate. (A Pending pod needs no annotation: a
# nodeSelector no node matches keeps it Unschedulable, as on a real cluster.)
FATE_ANNOTATION = "simcluster.io/simulate"


def _crashloop(workloads, pod):
    """The kubelet's CrashLoopBackOff: the container keeps exiting (exit code 1)."""
    meta = pod["metadata"]
    stamp = now_iso()

    def apply(obj):
        for status in obj["status"].get("containerStatuses") or []:
            status.update({
                "ready": False, "started": False, "restartCount": 5,
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                             "startedAt": stamp, "finishedAt": stamp,
                                             "containerID": status.get("containerID", "")}},
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": (
                    "back-off 5m0s restarting failed container=%s pod=%s_%s(%s)"
                    % (status["name"], meta["name"], meta["namespace"], meta["uid"]))}}})
        names = ", ".join(s["name"] for s in obj["status"].get("containerStatuses") or [])
        conds = obj["status"].setdefault("conditions", [])
        for kind in ("Ready", "ContainersReady"):
            set_condition(conds, kind, "False", "ContainersNotReady",
                          "containers with unready status: [%s]" % names)
    workloads.store.mutate(workloads.rt["pods"], meta["namespace"], meta["name"], apply)


def _evicted(workloads, pod):
    """Evicted by the kubelet under disk pressure: phase Failed, reason Evicted."""
    meta = pod["metadata"]
    stamp = now_iso()

    def apply(obj):
        status = obj["status"]
        status.update({"phase": "Failed", "reason": "Evicted", "message": (
            "The node was low on resource: ephemeral-storage. Threshold quantity: 11362838Ki, "
            "available: 9876543Ki. ")})
        for ctr in status.get("containerStatuses") or []:
            ctr.update({"ready": False, "started": False, "state": {"terminated": {
                "exitCode": 137, "reason": "ContainerStatusUnknown", "startedAt": stamp,
                "finishedAt": stamp, "message": "The container could not be located when the "
                                                "pod was terminated"}}})
        conds = status.setdefault("conditions", [])
        set_condition(conds, "Ready", "False", "PodFailed")
        set_condition(conds, "DisruptionTarget", "True", "TerminationByKubelet",
                      "The node was low on resource: ephemeral-storage.")
    workloads.store.mutate(workloads.rt["pods"], meta["namespace"], meta["name"], apply)


def _terminating(workloads, pod):
    """Being deleted and held by a finalizer: deletionTimestamp set, containers still up."""
    meta = pod["metadata"]
    workloads.store.mutate(workloads.rt["pods"], meta["namespace"], meta["name"], lambda o: o[
        "metadata"].setdefault("finalizers", []).append("simcluster.io/hold"))
    workloads.store.delete(workloads.rt["pods"], meta["namespace"], meta["name"])


FATES = {"crashloop": _crashloop, "evicted": _evicted, "terminating": _terminating}


class Workloads(Controller):
    name = "workloads"

    def __init__(self, sim):
        super().__init__()
        self.sim = sim
        self.store = sim.store
        reg = sim.registry
        self.rt = {name: reg.get(group, name) for group, name in (
            ("", "pods"), ("", "nodes"), ("", "namespaces"), ("", "serviceaccounts"),
            ("", "events"),
            ("apps", "deployments"), ("apps", "replicasets"), ("apps", "daemonsets"),
            ("policy", "poddisruptionbudgets"))}
        self.logs = {}  # (namespace, pod, container) -> text

    def on_event(self, event):
        self.trigger.set()

    def _wake_in(self, seconds):
        self._wake_at(time.monotonic() + max(0.0, seconds))

    def reconcile(self):
        self.sync_namespaces()
        self.collect_garbage()
        for dep in list(self.store.iter(self.rt["deployments"])):
            self.sync_deployment(dep)
        for rs in list(self.store.iter(self.rt["replicasets"])):
            self.sync_replicaset(rs)
        for ds in list(self.store.iter(self.rt["daemonsets"])):
            self.sync_daemonset(ds)
        for pdb in list(self.store.iter(self.rt["poddisruptionbudgets"])):
            self.sync_pdb(pdb)
        self.schedule()
        self.run_kubelets()

    # --- namespaces, service accounts, garbage collection ---------------------------------

    def sync_namespaces(self):
        for ns in list(self.store.iter(self.rt["namespaces"])):
            name = ns["metadata"]["name"]
            if ns["metadata"].get("deletionTimestamp"):
                remaining = 0
                for rt in self.sim.registry.resources:
                    if not rt.namespaced or not rt.stored:
                        continue
                    for obj in list(self.store.iter(rt, name)):
                        remaining += 1
                        if not obj["metadata"].get("deletionTimestamp"):
                            self.store.delete(rt, name, obj["metadata"]["name"],
                                              grace_seconds=0)
                if not remaining:
                    self.store.finalize(self.rt["namespaces"], "", name)
                else:
                    self._wake_in(0.05)
            elif not self.store.exists(self.rt["serviceaccounts"], name, "default"):
                self.store.create(self.rt["serviceaccounts"], {
                    "metadata": {"name": "default", "namespace": name}})

    def collect_garbage(self):
        uids = set()
        owners = []
        for rt in self.sim.registry.resources:
            if not rt.stored:
                continue
            for obj in self.store.iter(rt):
                uids.add(obj["metadata"]["uid"])
                owners.append((rt, obj))
        for rt, obj in owners:
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if refs and not meta.get("deletionTimestamp") and \
                    all(ref.get("uid") not in uids for ref in refs):
                self.store.delete(rt, meta.get("namespace"), meta["name"])
        # Owners waiting on their dependents (foreground deletion) or orphaning them.
        for rt, obj in owners:
            meta = obj["metadata"]
            finalizers = meta.get("finalizers") or []
            if not meta.get("deletionTimestamp") or not (
                    "foregroundDeletion" in finalizers or "orphan" in finalizers):
                continue
            uid = meta["uid"]
            dependents = [(drt, dep) for drt, dep in owners
                          if self.store.peek(drt, dep["metadata"].get("namespace"),
                                             dep["metadata"]["name"]) is not None
                          and _owned_by(dep, uid)]
            if "orphan" in finalizers:
                for drt, dep in dependents:
                    self.store.mutate(drt, dep["metadata"].get("namespace"),
                                      dep["metadata"]["name"], lambda o, u=uid: o[
                                          "metadata"].__setitem__("ownerReferences", [
                                              r for r in o["metadata"].get("ownerReferences")
                                              or [] if r.get("uid") != u]))
                dependents = []
            for drt, dep in dependents:
                if not dep["metadata"].get("deletionTimestamp"):
                    self.store.delete(drt, dep["metadata"].get("namespace"),
                                      dep["metadata"]["name"], propagation="Foreground")
            if not dependents:
                self.store.mutate(rt, meta.get("namespace"), meta["name"], lambda o: o[
                    "metadata"].__setitem__("finalizers", [
                        f for f in o["metadata"].get("finalizers") or []
                        if f not in ("foregroundDeletion", "orphan")]))
            else:
                self._wake_in(0.05)

    # --- Deployments and ReplicaSets ------------------------------------------------------

    def _children(self, rt, owner):
        ns = owner["metadata"].get("namespace")
        return [o for o in self.store.iter(rt, ns) if _owned_by(o, owner["metadata"]["uid"])]

    def sync_deployment(self, dep):
        if dep["metadata"].get("deletionTimestamp"):
            return
        ns = dep["metadata"]["namespace"]
        spec = dep.get("spec") or {}
        template = spec.get("template") or {}
        owned = self._children(self.rt["replicasets"], dep)
        want = template_hash(template)
        current = None
        for rs in owned:
            rs_template = copy.deepcopy(dig(rs, "spec", "template", default={}))
            if template_hash(rs_template) == want:
                current = rs
        revision = max([int((rs["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "0")) for rs in owned] or [0])
        replicas = spec.get("replicas", 1)
        if current is None:
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})[
                "pod-template-hash"] = want
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = want
            current = self.store.create(self.rt["replicasets"], {
                "metadata": {"name": "%s-%s" % (dep["metadata"]["name"], want), "namespace": ns,
                             "labels": dict(rs_template["metadata"]["labels"]),
                             "annotations": {
                                 "deployment.kubernetes.io/revision": str(revision + 1),
                                 "deployment.kubernetes.io/desired-replicas": str(replicas)},
                             "ownerReferences": [_owner_ref(dep, "Deployment", "apps/v1")]},
                "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
            })
            revision += 1
        for rs in owned + [current]:
            wanted = replicas if rs["metadata"]["uid"] == current["metadata"]["uid"] else 0
            if dig(rs, "spec", "replicas") != wanted:
                self.store.mutate(self.rt["replicasets"], ns, rs["metadata"]["name"],
                                  lambda o, w=wanted: o["spec"].__setitem__("replicas", w))
        all_rs = self._children(self.rt["replicasets"], dep)
        pods = [p for rs in all_rs for p in self._children(self.rt["pods"], rs) if _active(p)]
        cur_pods = [p for p in self._children(self.rt["pods"], current) if _active(p)]
        ready = [p for p in pods if _ready(p)]
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(cur_pods),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "conditions": copy.deepcopy(dig(dep, "status", "conditions", default=[])),
        }
        if len(pods) > len(ready):
            status["unavailableReplicas"] = len(pods) - len(ready)
        for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if not status[key]:
                del status[key]
        conds = status["conditions"]
        if len(ready) >= replicas:
            set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.",
                          extra={"lastUpdateTime": now_iso()} if condition(
                              conds, "Available") is None else None)
        else:
            set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.")
        rs_name = current["metadata"]["name"]
        if len(cur_pods) >= replicas and len(ready) >= replicas and len(pods) == replicas:
            set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                          'ReplicaSet "%s" has successfully progressed.' % rs_name)
        else:
            set_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                          'ReplicaSet "%s" is progressing.' % rs_name)

        def apply(obj):
            obj["status"] = status
            obj["metadata"].setdefault("annotations", {})[
                "deployment.kubernetes.io/revision"] = str(revision)
        self.store.mutate(self.rt["deployments"], ns, dep["metadata"]["name"], apply)

    def sync_replicaset(self, rs):
        if rs["metadata"].get("deletionTimestamp"):
            return
        ns = rs["metadata"]["namespace"]
        pods = [p for p in self._children(self.rt["pods"], rs) if _active(p)]
        wanted = dig(rs, "spec", "replicas", default=1)
        template = dig(rs, "spec", "template", default={})
        for _missing in range(wanted - len(pods)):
            self._create_pod(ns, rs["metadata"]["name"] + "-", template,
                             _owner_ref(rs, "ReplicaSet", "apps/v1"))
        if len(pods) > wanted:
            newest = sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"],
                            reverse=True)
            for pod in newest[:len(pods) - wanted]:
                self.store.delete(self.rt["pods"], ns, pod["metadata"]["name"])
        pods = [p for p in self._children(self.rt["pods"], rs) if _active(p)]
        ready = len([p for p in pods if _ready(p)])
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k == "replicas"}
        if rs.get("status") != status:
            self.store.mutate(self.rt["replicasets"], ns, rs["metadata"]["name"],
                              lambda o: o.__setitem__("status", status))

    def _create_pod(self, namespace, generate_name, template, owner, node=None, extra=None):
        meta = copy.deepcopy(template.get("metadata") or {})
        spec = copy.deepcopy(template.get("spec") or {})
        pod = {"metadata": {"generateName": generate_name, "namespace": namespace,
                            "labels": meta.get("labels") or {},
                            "annotations": dict(meta.get("annotations") or {}),
                            "ownerReferences": [owner]},
               "spec": spec}
        if extra:
            extra(pod)
        if node:
            pod["spec"]["nodeName"] = node
        admission.default(self.rt["pods"], pod)
        try:
            # the controller's own identity may use no SCC: only the pod's ServiceAccount counts
            images.scc_admit(self.sim, pod)
        except errors.ApiError as exc:
            kind = owner.get("kind", "")
            self.event("", "FailedCreate", "Error creating: " + exc.message, kind=kind,
                       namespace=namespace, name=owner.get("name"), event_type="Warning",
                       component={"DaemonSet": "daemonset-controller"}.get(
                           kind, "replicaset-controller"))
            self._wake_in(1.0)  # controllers retry with back-off
            return None
        pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        return self.store.create(self.rt["pods"], pod, keep_status=True)

    # --- PodDisruptionBudgets and the Eviction API ---------------------------------------

    def _pdb_numbers(self, pdb):
        """(expected pods, healthy pods, desired healthy) as the disruption controller
        computes them (pkg/controller/disruption): minAvailable or maxUnavailable, an int or
        a percentage of the expected pods (rounded up)."""
        ns = pdb["metadata"]["namespace"]
        selector = dig(pdb, "spec", "selector")
        pods = [p for p in self.store.iter(self.rt["pods"], ns) if _active(p) and
                label_selector_object_matches(selector, p["metadata"].get("labels"))]
        expected = len(pods)
        healthy = len([p for p in pods if _ready(p)])
        spec = pdb.get("spec") or {}

        def amount(value):
            if isinstance(value, str) and value.endswith("%"):
                return -(-expected * int(value[:-1]) // 100)
            return int(value)
        if spec.get("maxUnavailable") is not None:
            desired = max(0, expected - amount(spec["maxUnavailable"]))
        else:
            desired = amount(spec.get("minAvailable", 1))
        return expected, healthy, desired

    def sync_pdb(self, pdb):
        expected, healthy, desired = self._pdb_numbers(pdb)
        allowed = max(0, healthy - desired)
        status = copy.deepcopy(pdb.get("status") or {})
        status.update({"currentHealthy": healthy, "desiredHealthy": desired,
                       "disruptionsAllowed": allowed, "expectedPods": expected,
                       "observedGeneration": pdb["metadata"].get("generation", 1)})
        conds = status.setdefault("conditions", [])
        if allowed:
            set_condition(conds, "DisruptionAllowed", "True", "SufficientPods")
        else:
            set_condition(conds, "DisruptionAllowed", "False", "InsufficientPods")
        if status != pdb.get("status"):
            self.store.mutate(self.rt["poddisruptionbudgets"], pdb["metadata"]["namespace"],
                              pdb["metadata"]["name"], lambda o: o.__setitem__("status", status))

    def evict(self, pod, grace_seconds=None, dry_run=False):
        """The Eviction API (pkg/registry/core/pod/storage/eviction.go): refused with 429
        while a PodDisruptionBudget covering the pod allows no disruption; otherwise the pod
        is deleted gracefully. A pod that is not Running-and-ready does not count against the
        budget, as upstream lets unhealthy pods go."""
        ns = pod["metadata"]["namespace"]
        for pdb in self.store.iter(self.rt["poddisruptionbudgets"], ns):
            if not label_selector_object_matches(dig(pdb, "spec", "selector"),
                                                 pod["metadata"].get("labels")):
                continue
            _expected, healthy, desired = self._pdb_numbers(pdb)
            if _ready(pod) and healthy - desired <= 0:
                error = errors.too_many_requests(
                    0, "Cannot evict pod as it would violate the pod's disruption budget.")
                error.details = {"causes": [{
                    "reason": "DisruptionBudget",
                    "message": "The disruption budget %s needs %d healthy pods and has %d "
                               "currently" % (pdb["metadata"]["name"], desired, healthy)}]}
                error.headers = {}
                raise error
        self.store.delete(self.rt["pods"], ns, pod["metadata"]["name"],
                          grace_seconds=grace_seconds, dry_run=dry_run)

    # --- DaemonSets -----------------------------------------------------------------------

    def sync_daemonset(self, ds):
        if ds["metadata"].get("deletionTimestamp"):
            return
        ns = ds["metadata"]["namespace"]
        template = dig(ds, "spec", "template", default={})
        revision = template_hash(template)
        generation = ds["metadata"].get("generation", 1)
        spec = copy.deepcopy(template.get("spec") or {})
        spec["tolerations"] = list(spec.get("tolerations") or []) + [
            t for t in DS_TOLERATIONS if t not in (spec.get("tolerations") or [])]
        pods = [p for p in self._children(self.rt["pods"], ds) if _active(p)]
        by_node = {}
        for pod in pods:
            by_node.setdefault(dig(pod, "spec", "nodeName"), []).append(pod)
        desired = 0
        misscheduled = 0
        for node in self.store.iter(self.rt["nodes"]):
            name = node["metadata"]["name"]
            here = by_node.get(name, [])
            should = fits(spec, node, ignore_unschedulable=True, running=bool(here))
            if should:
                desired += 1
                stale = [p for p in here if (p["metadata"].get("labels") or {}).get(
                    "controller-revision-hash") != revision]
                for pod in stale:
                    self.store.delete(self.rt["pods"], ns, pod["metadata"]["name"],
                                      grace_seconds=0)
                if len(here) == len(stale):
                    self._create_ds_pod(ds, spec, template, revision, generation, name)
            else:
                misscheduled += len(here)
                for pod in here:
                    self.store.delete(self.rt["pods"], ns, pod["metadata"]["name"])
        pods = [p for p in self._children(self.rt["pods"], ds) if _active(p)]
        updated = [p for p in pods if (p["metadata"].get("labels") or {}).get(
            "controller-revision-hash") == revision]
        ready = [p for p in pods if _ready(p)]
        status = {
            "currentNumberScheduled": len({dig(p, "spec", "nodeName") for p in pods}),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": misscheduled,
            "numberReady": len(ready),
            "numberAvailable": len(ready),
            "updatedNumberScheduled": len(updated),
            "observedGeneration": generation,
        }
        if desired > len(ready):
            status["numberUnavailable"] = desired - len(ready)
        if not ready:
            del status["numberAvailable"]
        if ds.get("status") != status:
            self.store.mutate(self.rt["daemonsets"], ns, ds["metadata"]["name"],
                              lambda o: o.__setitem__("status", status))

    def _create_ds_pod(self, ds, spec, template, revision, generation, node_name):
        def extra(pod):
            pod["spec"] = copy.deepcopy(spec)
            pod["metadata"]["labels"] = dict(pod["metadata"]["labels"])
            pod["metadata"]["labels"]["controller-revision-hash"] = revision
            pod["metadata"]["labels"]["pod-template-generation"] = str(generation)
            pod["spec"]["affinity"] = {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchFields": [{"key": "metadata.name", "operator": "In",
                                     "values": [node_name]}]}]}}}
        self._create_pod(ds["metadata"]["namespace"], ds["metadata"]["name"] + "-", template,
                         _owner_ref(ds, "DaemonSet", "apps/v1"), node_name, extra)

    # --- scheduler ------------------------------------------------------------------------

    def schedule(self):
        nodes = list(self.store.iter(self.rt["nodes"]))
        load = {}
        for pod in self.store.iter(self.rt["pods"]):
            node = dig(pod, "spec", "nodeName")
            if node:
                load[node] = load.get(node, 0) + 1
        for pod in list(self.store.iter(self.rt["pods"])):
            if dig(pod, "spec", "nodeName") or pod["metadata"].get("deletionTimestamp"):
                continue
            spec = pod.get("spec") or {}
            ready = [n for n in nodes if self._node_ready(n) and fits(spec, n)]
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if not ready:
                message = "0/%d nodes are available: %d node(s) didn't match Pod's node " \
                          "affinity/selector, had untolerated taints or were unschedulable." \
                          % (len(nodes), len(nodes))

                def unschedulable(obj):
                    conds = obj.setdefault("status", {}).setdefault("conditions", [])
                    set_condition(conds, "PodScheduled", "False", "Unschedulable", message)
                self.store.mutate(self.rt["pods"], ns, name, unschedulable)
                continue
            target = min(ready, key=lambda n: (load.get(n["metadata"]["name"], 0),
                                               n["metadata"]["name"]))
            load[target["metadata"]["name"]] = load.get(target["metadata"]["name"], 0) + 1
            self.store.mutate(self.rt["pods"], ns, name, lambda o, t=target: o[
                "spec"].__setitem__("nodeName", t["metadata"]["name"]))

    @staticmethod
    def _node_ready(node):
        cond = condition(dig(node, "status", "conditions"), "Ready")
        return bool(cond and cond.get("status") == "True")

    # --- the kubelets ---------------------------------------------------------------------

    def _pod_ip(self, node):
        cidr = dig(node, "spec", "podCIDR")
        if not cidr:
            return ""
        used = {dig(p, "status", "podIP") for p in self.store.iter(self.rt["pods"])}
        network = ipaddress.ip_network(cidr)
        for offset in range(10, network.num_addresses - 1):
            candidate = str(network[offset])
            if candidate not in used:
                return candidate
        return ""

    def run_kubelets(self):
        now = time.time()
        settings = self.sim.settings
        for pod in list(self.store.iter(self.rt["pods"])):
            meta = pod["metadata"]
            ns, name = meta["namespace"], meta["name"]
            if meta.get("deletionTimestamp"):
                started = parse_iso(meta["deletionTimestamp"]) - meta.get(
                    "deletionGracePeriodSeconds", 0)
                due = started + min(meta.get("deletionGracePeriodSeconds", 0),
                                    settings.pod_stop_delay)
                if now >= due and not meta.get("finalizers"):
                    self.store.finalize(self.rt["pods"], ns, name)
                    self._forget_logs(ns, name)
                else:
                    self._wake_in(due - now)
                continue
            node_name = dig(pod, "spec", "nodeName")
            if not node_name or dig(pod, "status", "phase") != "Pending":
                continue
            node = self.store.peek(self.rt["nodes"], "", node_name)
            if node is None:
                continue
            scheduled = condition(dig(pod, "status", "conditions"), "PodScheduled")
            if scheduled is None or scheduled.get("status") != "True":
                def mark(obj):
                    conds = obj.setdefault("status", {}).setdefault("conditions", [])
                    set_condition(conds, "PodScheduled", "True")
                self.store.mutate(self.rt["pods"], ns, name, mark)
                self._wake_in(settings.pod_start_delay)
                continue
            due = parse_iso(scheduled["lastTransitionTime"]) + settings.pod_start_delay
            if now < due or not self._node_ready(node):
                self._wake_in(max(0.05, due - now))
                continue
            if self._image_problems(pod, now - due):
                self._wake_in(max(0.2, settings.pod_start_delay))
                continue
            self._start_pod(pod, node)

    def _image_problems(self, pod, waited):
        """Write the kubelet's waiting state for containers whose image cannot be had:
        InvalidImageName, or ErrImagePull and, after the first back-off, ImagePullBackOff
        (pkg/kubelet/images/image_manager.go). True while any container is stuck."""
        ns = pod["metadata"]["namespace"]
        preloaded = set(self.sim.config.preloaded_images)
        waiting = {}
        for ctr in pod["spec"].get("containers") or []:
            image = ctr.get("image", "")
            invalid = images.invalid_reason(image)
            if invalid:
                waiting[ctr["name"]] = ("InvalidImageName", invalid)
                continue
            if image in preloaded and ctr.get("imagePullPolicy") != "Always":
                continue
            error = images.pull_error(self.sim, image, ns)
            if error:
                backoff = waited > self.sim.settings.image_pull_backoff
                waiting[ctr["name"]] = ("ImagePullBackOff", images.back_off_message(image)) \
                    if backoff else ("ErrImagePull", error)
        if not waiting:
            return False

        def apply(obj):
            status = obj.setdefault("status", {})
            statuses = []
            for ctr in obj["spec"].get("containers") or []:
                reason, message = waiting.get(ctr["name"], ("ContainerCreating", ""))
                state = {"reason": reason}
                if message:
                    state["message"] = message
                statuses.append({"name": ctr["name"], "image": ctr.get("image", ""),
                                 "imageID": "", "ready": False, "started": False,
                                 "restartCount": 0, "state": {"waiting": state},
                                 "lastState": {}})
            if status.get("containerStatuses") == statuses:
                return
            status["containerStatuses"] = statuses
            conds = status.setdefault("conditions", [])
            names = ", ".join(sorted(waiting))
            set_condition(conds, "Initialized", "True")
            set_condition(conds, "Ready", "False", "ContainersNotReady",
                          "containers with unready status: [%s]" % names)
            set_condition(conds, "ContainersReady", "False", "ContainersNotReady",
                          "containers with unready status: [%s]" % names)
        current = self.store.peek(self.rt["pods"], ns, pod["metadata"]["name"])
        before = copy.deepcopy((current or {}).get("status"))
        probe = copy.deepcopy(current)
        apply(probe)
        if probe.get("status") != before:
            self.store.mutate(self.rt["pods"], ns, pod["metadata"]["name"], apply)
        return True

    def _start_pod(self, pod, node):
        ip = self._pod_ip(node)
        host_ip = next((a["address"] for a in dig(node, "status", "addresses", default=[])
                        if a.get("type") == "InternalIP"), "")

        def start(obj):
            stamp = now_iso()
            status = obj.setdefault("status", {})
            status.update({"phase": "Running", "hostIP": host_ip, "podIP": ip,
                           "podIPs": [{"ip": ip}], "startTime": stamp})
            conds = status.setdefault("conditions", [])
            for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
                set_condition(conds, kind, "True")
            status["containerStatuses"] = [self._container_status(c, stamp)
                                           for c in obj["spec"].get("containers") or []]
        self.store.mutate(self.rt["pods"], pod["metadata"]["namespace"],
                          pod["metadata"]["name"], start)
        fate = (pod["metadata"].get("annotations") or {}).get(FATE_ANNOTATION)
        if fate in FATES:
            FATES[fate](self, pod)
        for ctr in pod["spec"].get("containers") or []:
            self.append_log(pod["metadata"]["namespace"], pod["metadata"]["name"], ctr["name"],
                            "container %s started (image %s)" % (ctr["name"], ctr.get("image")))

    @staticmethod
    def _container_status(ctr, stamp, restarts=0):
        image = ctr.get("image", "")
        return {"name": ctr["name"], "ready": True, "started": True, "restartCount": restarts,
                "image": image, "imageID": "%s@sha256:%s" % (image.split(":")[0], hex_id(64)),
                "containerID": "cri-o://" + hex_id(64),
                "state": {"running": {"startedAt": stamp}}, "lastState": {}}

    def event(self, node_name, reason, message, kind="Node", namespace="default", name=None,
              event_type="Normal", component="machineconfigdaemon"):
        """Record an Event about a node (or another object), as its controller would."""
        stamp = now_iso()
        name = name or node_name
        self.store.create(self.rt["events"], {
            "metadata": {"generateName": name + ".", "namespace": namespace},
            "involvedObject": {"kind": kind, "name": name, "namespace": "" if kind == "Node"
                               else namespace},
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": component, "host": node_name},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1})

    def append_log(self, namespace, pod, container, line):
        key = (namespace, pod, container)
        self.logs[key] = self.logs.get(key, "") + "%s %s\n" % (now_iso(), line)

    def _forget_logs(self, namespace, pod):
        for key in [k for k in self.logs if k[0] == namespace and k[1] == pod]:
            del self.logs[key]

    # --- node events driven by the machine config daemon ----------------------------------

    def drain(self, node_name):
        """Evict what the MCO's drain evicts (pkg/controller/drain: kubectl's drain.Helper with
        Force and IgnoreAllDaemonSets): every pod but DaemonSet and mirror pods, unmanaged ones
        included, through the Eviction API. Returns the refusals as kubectl's drain words
        them (empty when the node is drained)."""
        refused = []
        for pod in list(self.store.iter(self.rt["pods"])):
            if dig(pod, "spec", "nodeName") != node_name or not _active(pod):
                continue
            kinds = {r.get("kind") for r in pod["metadata"].get("ownerReferences") or []}
            if "DaemonSet" in kinds or "kubernetes.io/config.mirror" in (
                    pod["metadata"].get("annotations") or {}):
                continue
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            try:
                self.evict(pod)
            except errors.ApiError as exc:
                refused.append('error when evicting pods/"%s" -n "%s" (will retry after 5s): %s'
                               % (name, ns, exc.message))
                continue
            log.info("drained pod %s/%s from %s", ns, name, node_name)
        return refused

    def set_node_ready(self, node_name, ready, reason="KubeletReady", message=None):
        def apply(obj):
            conds = obj.setdefault("status", {}).setdefault("conditions", [])
            if ready:
                set_condition(conds, "Ready", "True", "KubeletReady",
                              message or "kubelet is posting ready status",
                              extra={"lastHeartbeatTime": now_iso()})
            else:
                set_condition(conds, "Ready", "False", reason, message or "",
                              extra={"lastHeartbeatTime": now_iso()})
            spec = obj.setdefault("spec", {})
            taints = [t for t in spec.get("taints") or []
                      if t.get("key") != "node.kubernetes.io/not-ready"]
            if not ready:
                taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule",
                               "timeAdded": now_iso()})
            if taints:
                spec["taints"] = taints
            else:
                spec.pop("taints", None)
        self.store.mutate(self.rt["nodes"], "", node_name, apply)

    def node_rebooted(self, node_name):
        """Containers on a rebooted node are new containers: new IDs, one more restart."""
        self.store.mutate(self.rt["nodes"], "", node_name, lambda o: o["status"].setdefault(
            "nodeInfo", {}).__setitem__("bootID", self.sim.openshift.boot_id()))
        stamp = now_iso()
        for pod in list(self.store.iter(self.rt["pods"])):
            if dig(pod, "spec", "nodeName") != node_name or not _active(pod) or \
                    dig(pod, "status", "phase") != "Running":
                continue

            def restart(obj):
                statuses = obj["status"].get("containerStatuses") or []
                for status in statuses:
                    status["lastState"] = {"terminated": {
                        "exitCode": 0, "reason": "Completed", "finishedAt": stamp,
                        "containerID": status.get("containerID", "")}}
                    status["restartCount"] = status.get("restartCount", 0) + 1
                    status["containerID"] = "cri-o://" + hex_id(64)
                    status["state"] = {"running": {"startedAt": stamp}}
            self.store.mutate(self.rt["pods"], pod["metadata"]["namespace"],
                              pod["metadata"]["name"], restart)
