# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container checkpoints through the kubelet API, reached via the API server's node proxy.

``POST /api/v1/nodes/{node}/proxy/checkpoint/{namespace}/{pod}/{container}[?timeout=s]`` answers
``{"items": ["/var/lib/kubelet/checkpoints/checkpoint-<pod>_<ns>-<ctr>-<time>.tar"]}``. The API
server authorises the caller for ``create`` on ``nodes/proxy``; the kubelet then sees the API
server's own client identity, not the caller, and authorises ``/checkpoint`` as ``create`` on
``nodes/checkpoint`` for it (kubelet pkg/kubelet/server/auth.go; kubernetes#126232). Each archive is tied to the
container asked for: pod UID, container ID, start time and restart count read just before the
POST and again after, and against the run's baseline; a recreated or restarted container is
reported loudly. Failures are turned into what to do about them: 404 from the kubelet
means the ContainerCheckpoint gate is off on that node (pods and containers are checked here
first), 500 usually that CRI-O has no CRIU support. Pods are checkpointed in parallel, a bounded
number at a time: each dump freezes its container for a moment, and each writes a file as large
as the container's memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import node_archives
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported, this keeps sanity quiet
    from urllib import quote

HINT_GATE = ("enable it with forensic.checkpoint.feature_gate and let the MachineConfigPools roll out "
             "(forensic.checkpoint.machine_config_pool wait=true)")
HINT_KUBELET_RBAC = ("grant create on nodes/checkpoint to the API server's kubelet-client identity "
                     "(forensic.checkpoint.kubelet_checkpoint_access, which playbooks/enable.yml runs; check: oc auth "
                     "can-i create nodes --subresource=checkpoint --as=system:kube-apiserver --as-group=kube-master)")
CHECKPOINT_DIR = "/var/lib/kubelet/checkpoints"
# A cut connection or an unreachable kubelet, as opposed to an answer from the kubelet: no status
# (the client's own connection cut, a load balancer's idle timeout), or the API server's proxy
# answering 503 "error trying to reach service: ..." when its round trip to the kubelet fails
# (apimachinery pkg/util/proxy/transport.go), 502/504 from a gateway in between
DROPPED = (None, 502, 503, 504)
IDENTITY = ("pod_uid", "container_id", "started_at", "restart_count")
HINT_CRIU = ("enable CRI-O's CRIU support with forensic.checkpoint.machine_config preset=crio_criu and "
             "let the pool roll out")


# The argument spec of doc fragment forensic.checkpoint.pod_targets, and its rules.
TARGET_SPEC = dict(namespace=dict(type="str", required=True), pod=dict(type="str"),
                   label_selectors=dict(type="list", elements="str"), containers=dict(type="list", elements="str"))
TARGET_RULES = dict(mutually_exclusive=[("pod", "label_selectors")], required_one_of=[("pod", "label_selectors")])


class CheckpointFailed(CheckpointError):
    """Some checkpoints failed; ``result`` has those that worked and those that did not."""

    def __init__(self, problem, result):
        super(CheckpointFailed, self).__init__("container_checkpoint", problem)
        self.result = result


def _label(target):
    return "%s/%s/%s" % (target["namespace"], target["pod"], target["container"])


def quote_path(part):
    return quote(part, safe="")


def select(cluster, namespace, pod=None, label_selectors=None, containers=None):
    """(targets, skipped): the (node, namespace, pod, container) targets with their identity, and
    the pods a label selector matched that cannot be checkpointed, each with the reason. A pod
    named explicitly that cannot be checkpointed is an error."""
    if pod:
        found = cluster.get("/api/v1/namespaces/%s/pods/%s" % (quote_path(namespace), quote_path(pod)),
                            "pod %s/%s" % (namespace, pod), missing_ok=True)
        if found is None:
            raise CheckpointError("pod %s/%s" % (namespace, pod), "not found")
        pods = [found]
    else:
        selector = ",".join(label_selectors or [])
        pods = cluster.get("/api/v1/namespaces/%s/pods" % quote_path(namespace), "pods in namespace %s" % namespace,
                           query=[("labelSelector", selector)]).get("items") or []
        if not pods:
            raise CheckpointError("pods in namespace %s" % namespace, "none match %s" % selector)
    targets, skipped = [], []
    for item in sorted(pods, key=lambda p: p["metadata"]["name"]):
        try:
            targets.extend(_pod_targets(item, containers))
        except CheckpointError as err:
            if pod:
                raise
            skipped.append({"namespace": namespace, "pod": item["metadata"]["name"], "reason": err.problem})
    return targets, skipped


def unusable(pod):
    """Why a pod cannot be checkpointed at all (None when it can)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "is terminating (deletionTimestamp %s)" % meta["deletionTimestamp"]
    if status.get("reason") == "Evicted":
        return "was evicted (%s)" % (status.get("message") or "Evicted")
    if status.get("phase") != "Running" or not (pod.get("spec") or {}).get("nodeName"):
        return "is %s%s: only running containers can be checkpointed" % (
            status.get("phase") or "not running", "" if (pod.get("spec") or {}).get("nodeName") else " and not scheduled")
    return None


def identity(pod, container):
    """What says a container is the one that was asked for: pod UID, container ID, start, restarts."""
    status = dict((s.get("name"), s) for s in (pod.get("status") or {}).get("containerStatuses") or []).get(container) or {}
    return {"pod_uid": (pod.get("metadata") or {}).get("uid"), "container_id": status.get("containerID"),
            "started_at": ((status.get("state") or {}).get("running") or {}).get("startedAt"),
            "restart_count": status.get("restartCount")}


def _pod_targets(pod, wanted):
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    subject = "pod %s/%s" % (meta.get("namespace"), meta["name"])
    why = unusable(pod)
    if why:
        raise CheckpointError(subject, why)
    names = [c["name"] for c in spec.get("containers") or []]
    chosen = list(wanted) if wanted else names
    missing = [c for c in chosen if c not in names]
    if missing:
        raise CheckpointError(subject, "has no container %s (containers: %s)" % (", ".join(missing), ", ".join(names)))
    statuses = dict((s.get("name"), s) for s in status.get("containerStatuses") or [])
    for name in chosen:
        state = (statuses.get(name) or {}).get("state") or {}
        if "running" not in state:
            waiting = (state.get("waiting") or {}).get("reason")
            raise CheckpointError(subject, "container %s is not running%s" % (name, " (%s)" % waiting if waiting else ""))
    return [dict({"node": spec["nodeName"], "namespace": meta.get("namespace"), "pod": meta["name"], "container": c},
                 **identity(pod, c)) for c in chosen]


def explain(err, target):
    """One actionable line for a failed checkpoint POST."""
    node = target["node"]
    what = _label(target)
    message = err.message or ""
    status = err.status
    if status == 401:
        return "%s: the API server rejected the credentials (401): the token is missing, expired or invalid" % what
    if status == 403:
        if message.startswith("Forbidden (user=") and "checkpoint" in message:
            # the kubelet's own refusal: through the node proxy it authorises the API server's
            # client identity (on OpenShift system:kube-apiserver), never the caller
            return ("%s: the kubelet on node %s refused the API server's own identity (%s): it lacks create on "
                    "nodes/checkpoint; %s" % (what, node, message, HINT_KUBELET_RBAC))
        return "%s: forbidden on node %s: the caller lacks create on nodes/proxy (the API server's node proxy): %s" % (
            what, node, message)
    if status == 404:
        if err.details.get("kind") == "nodes":
            return "%s: node %s not found" % (what, node)
        if "does not exist" in message or "timeout parameter" in message:
            # the kubelet's own 404s: the pod moved or went away after it was looked up
            return "%s: the kubelet on node %s answered 404: %s" % (what, node, message)
        return ("%s: the kubelet on node %s answered 404, and the pod and container exist: the "
                "ContainerCheckpoint feature gate is not enabled on that node; %s" % (what, node, HINT_GATE))
    if status == 500:
        if "checkpoint/restore support not available" in message:
            return "%s: CRIU is not available to CRI-O on node %s (%s); %s" % (what, node, message, HINT_CRIU)
        if "deadline exceeded" in message.lower() or "DeadlineExceeded" in message:
            return "%s: the checkpoint did not finish within the timeout on node %s (%s); raise timeout" % (
                what, node, message)
        return "%s: the checkpoint failed on node %s: %s" % (what, node, message)
    if status in (502, 503, 504) or status is None:
        # a connection cut while the kubelet was dumping does not stop the dump: say where it lands
        return ("%s: cannot reach the kubelet on node %s, or the connection was cut: %s; if the request had reached "
                "it, the archive may still appear on the node as %s/checkpoint-%s_%s-%s-<time>.tar" % (
                    what, node, message or str(err), CHECKPOINT_DIR, target["pod"], target["namespace"],
                    target["container"]))
    return "%s: HTTP %s from node %s: %s" % (what, status, node, message)


def _read_identity(cluster, target):
    """The target's identity read now, or None when its pod is gone."""
    pod = cluster.get("/api/v1/namespaces/%s/pods/%s" % (quote_path(target["namespace"]), quote_path(target["pod"])),
                      "pod %s/%s" % (target["namespace"], target["pod"]), missing_ok=True)
    return identity(pod, target["container"]) if pod else None


def _changed(before, after):
    """What says the container is not the same one (pod recreated, container restarted)."""
    if after is None:
        return ["pod deleted"]
    return ["%s %s -> %s" % (key, before.get(key), after.get(key)) for key in IDENTITY
            if before.get(key) is not None and after.get(key) != before.get(key)]


class Dropped(Exception):
    """The connection dropped and no archive could be found: ``msg`` says what was done."""


def _recover(lister, target, since, err):
    """({"items": [path]}, what happened) for the archive the kubelet went on writing after the
    connection dropped; Dropped when it did not appear within the wait. The kubelet names it when the
    request arrives, so it is the earliest named just after ``since``: a checkpoint of the same
    container someone started meanwhile is named later, and is reported, not taken."""
    settings = lister.settings
    prefix = "checkpoint-%s_%s-%s-" % (target["pod"], target["namespace"], target["container"])
    cut = "connection dropped (%s)" % (err.message or err.problem)
    try:
        name, size, waited, others = node_archives.find(lister, target["node"], prefix, since, settings["wait"],
                                                        settings["interval"])
    except ApiError as failed:
        raise Dropped("%s: %s; could not look for the archive on node %s: %s" % (_label(target), cut, target["node"], failed))
    also = "; not taken, named later by another checkpoint of this container: %s" % ", ".join(others) if others else ""
    if name is None:
        raise Dropped("%s: %s; archive not found on node %s after %s s (%s/%s<time>.tar, named within %d s of the "
                      "request)%s" % (_label(target), cut, target["node"], waited, settings["checkpoint_dir"], prefix,
                                      node_archives.NAMED_WITHIN, also))
    path = "%s/%s" % (settings["checkpoint_dir"], name)
    return {"items": [path]}, "%s; archive found at %s on node %s (%d bytes, complete after %s s)%s" % (
        cut, path, target["node"], size, waited, also)


def _checkpoint(cluster, target, timeout, lister=None):
    path = "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/%s" % tuple(
        quote_path(target[k]) for k in ("node", "namespace", "pod", "container"))
    query = [("timeout", str(timeout))] if timeout else []
    before = _read_identity(cluster, target) or dict((k, target.get(k)) for k in IDENTITY)
    started, since = time.monotonic(), time.time()
    dropped = None
    try:
        answer = cluster.request("POST", path, "checkpoint %s on node %s" % (_label(target), target["node"]),
                                 query=query, timeout=(timeout + 60) if timeout else None)
    except ApiError as err:
        if lister is None or err.status not in DROPPED:
            raise
        answer, dropped = _recover(lister, target, since, err)
    items = answer.get("items") if isinstance(answer, dict) else None
    if not items:
        raise ApiError("checkpoint %s" % _label(target), "unexpected kubelet answer", 200,
                       "the kubelet answered without an archive path: %r" % (answer,))
    duration = round(time.monotonic() - started, 3)
    after = _read_identity(cluster, target)
    done = dict(target, path=items[0], duration=duration, **before)
    if dropped:
        done["dropped"] = dropped
    # the container picked when the run began (the baseline) against the one read just before the POST
    since_selected = _changed(dict((k, target.get(k)) for k in IDENTITY), before)
    done["identity_changed"] = since_selected + [c for c in _changed(before, after) if c not in since_selected]
    return done


def _against_baseline(done, baseline):
    """Changes since the run's baseline (taken before anything changed), for each checkpoint."""
    recorded = dict((_label(b), b) for b in baseline)
    namespaces = set(b["namespace"] for b in baseline)
    for entry in done:
        earlier = recorded.get(_label(entry))
        if earlier is not None:
            entry["identity_changed"] += [c for c in _changed(earlier, entry) if c not in entry["identity_changed"]]
        elif entry["namespace"] in namespaces:
            entry["identity_changed"].append("pod not present when the run began (a new replica?)")


def run(cluster, targets, timeout=None, parallel=4, check_mode=False, skipped=(), all_or_nothing=False,
        baseline=None, recover=None):
    """Checkpoint every target. Returns the module result; raises CheckpointFailed when nothing
    could be checkpointed, or on any failure or skipped pod with ``all_or_nothing``. ``recover``
    (node_archives.SPEC): after a dropped connection, look for the archive through the analyser pods."""
    skipped = list(skipped)
    lister = node_archives.AnalyserLister(cluster, recover) if recover else None
    if all_or_nothing and skipped:
        raise CheckpointFailed("%d pod(s) cannot be checkpointed and all_or_nothing is set: %s" % (
            len(skipped), "; ".join("%s/%s %s" % (s["namespace"], s["pod"], s["reason"]) for s in skipped)),
            {"checkpoints": [], "failures": [], "skipped_pods": skipped})
    if not targets:
        raise CheckpointFailed("nothing can be checkpointed: %s" % "; ".join(
            "%s/%s %s" % (s["namespace"], s["pod"], s["reason"]) for s in skipped), {"checkpoints": [], "skipped_pods": skipped})
    if check_mode:
        planned = [dict(t, path=None, duration=None) for t in targets]
        return {"changed": True, "checkpoints": planned, "skipped_pods": skipped,
                "msg": "would checkpoint %d container(s): %s" % (len(targets), ", ".join(_label(t) for t in targets))}
    done, failures = [], []

    def one(target):
        try:
            return _checkpoint(cluster, target, timeout, lister), None
        except ApiError as err:
            return None, dict(target, status=err.status, msg=explain(err, target))
        except Dropped as err:
            return None, dict(target, status=None, msg=str(err))

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets) or 1))) as pool:
        for ok, failed in pool.map(one, targets):
            if ok:
                done.append(ok)
            else:
                failures.append(failed)
    _against_baseline(done, baseline or [])
    result = {"changed": bool(done), "checkpoints": done, "failures": failures, "skipped_pods": skipped}
    if failures and (all_or_nothing or not done):
        first = failures[0]["msg"]
        more = " (and %d more failure(s), see failures)" % (len(failures) - 1) if len(failures) > 1 else ""
        raise CheckpointFailed("%d of %d checkpoint(s) failed: %s%s" % (len(failures), len(targets), first, more),
                               result)
    changed = [c for c in done if c["identity_changed"]]
    result["not_the_evidence"] = [_label(c) for c in changed]
    result["warnings"] = ["NOT THE EVIDENCE ASKED FOR: %s was recreated or restarted (%s): its archive holds the new "
                          "container's state, not the one the run began with" % (_label(c), "; ".join(c["identity_changed"]))
                          for c in changed]
    result["warnings"] += ["%s: %s" % (_label(c), c["dropped"]) for c in done if c.get("dropped")]
    result["warnings"] += [f["msg"] for f in failures]
    result["warnings"] += ["skipped %s/%s: %s" % (s["namespace"], s["pod"], s["reason"]) for s in skipped]
    result["msg"] = "checkpointed %d container(s) on %s%s%s%s%s" % (
        len(done), ", ".join(sorted(set(c["node"] for c in done))),
        "; %d found on the node after the connection dropped" % len([c for c in done if c.get("dropped")])
        if any(c.get("dropped") for c in done) else "",
        "; %d failed" % len(failures) if failures else "", "; %d pod(s) skipped" % len(skipped) if skipped else "",
        "; %d NOT the container asked for (recreated or restarted): %s" % (len(changed), ", ".join(result["not_the_evidence"]))
        if changed else "")
    return result


def checkpoint(connect, namespace, pod=None, label_selectors=None, containers=None, timeout=None, parallel=4,
               check_mode=False, all_or_nothing=False, baseline=None, recover=None):
    """The container_checkpoint module's work: select, then checkpoint."""
    cluster = connect()
    targets, skipped = select(cluster, namespace, pod, label_selectors, containers)
    return run(cluster, targets, timeout, parallel, check_mode, skipped, all_or_nothing, baseline, recover)
