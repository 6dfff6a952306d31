# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container checkpoints through the kubelet API, reached via the API server's node proxy.

``POST /api/v1/nodes/{node}/proxy/checkpoint/{namespace}/{pod}/{container}[?timeout=s]`` answers
``{"items": ["/var/lib/kubelet/checkpoints/checkpoint-<pod>_<ns>-<ctr>-<time>.tar"]}``. The API
server authorises ``create`` on ``nodes/proxy``; the kubelet then authorises ``create`` on
``nodes/checkpoint`` itself. Failures are turned into what to do about them: 404 from the kubelet
means the ContainerCheckpoint gate is off on that node (pods and containers are checked here
first), 500 usually that CRI-O has no CRIU support. Pods are checkpointed in parallel, a bounded
number at a time: each dump freezes its container for a moment, and each writes a file as large
as the container's memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported, this keeps sanity quiet
    from urllib import quote

HINT_GATE = ("enable it with forensic.checkpoint.feature_gate and let the MachineConfigPools roll out "
             "(forensic.checkpoint.machine_config_pool wait=true)")
HINT_CRIU = ("enable CRI-O's CRIU support with forensic.checkpoint.machine_config preset=crio_criu and "
             "let the pool roll out")


class CheckpointFailed(CheckpointError):
    """Some checkpoints failed; ``result`` has those that worked and those that did not."""

    def __init__(self, problem, result):
        super(CheckpointFailed, self).__init__("container_checkpoint", problem)
        self.result = result


def _label(target):
    return "%s/%s/%s" % (target["namespace"], target["pod"], target["container"])


def select(cluster, namespace, pod=None, label_selectors=None, containers=None):
    """The (node, namespace, pod, container) targets, checked to exist and to be running."""
    if pod:
        found = cluster.get("/api/v1/namespaces/%s/pods/%s" % (namespace, pod), "pod %s/%s" % (namespace, pod),
                            missing_ok=True)
        if found is None:
            raise CheckpointError("pod %s/%s" % (namespace, pod), "not found")
        pods = [found]
    else:
        selector = ",".join(label_selectors or [])
        pods = cluster.get("/api/v1/namespaces/%s/pods" % namespace, "pods in namespace %s" % namespace,
                           query=[("labelSelector", selector)]).get("items") or []
        pods = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        if not pods:
            raise CheckpointError("pods in namespace %s" % namespace, "none match %s" % selector)
    targets = []
    for item in sorted(pods, key=lambda p: p["metadata"]["name"]):
        targets.extend(_pod_targets(item, containers))
    return targets


def _pod_targets(pod, wanted):
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    subject = "pod %s/%s" % (meta.get("namespace"), meta["name"])
    node = spec.get("nodeName")
    if status.get("phase") != "Running" or not node:
        raise CheckpointError(subject, "is %s%s: only running containers can be checkpointed" % (
            status.get("phase") or "not running", "" if node else " and not scheduled"))
    names = [c["name"] for c in spec.get("containers") or []]
    chosen = list(wanted) if wanted else names
    missing = [c for c in chosen if c not in names]
    if missing:
        raise CheckpointError(subject, "has no container %s (containers: %s)" % (", ".join(missing), ", ".join(names)))
    running = dict((s.get("name"), "running" in (s.get("state") or {})) for s in status.get("containerStatuses") or [])
    idle = [c for c in chosen if not running.get(c)]
    if idle:
        raise CheckpointError(subject, "container %s is not running" % ", ".join(idle))
    return [{"node": node, "namespace": meta.get("namespace"), "pod": meta["name"], "container": c} for c in chosen]


def explain(err, target):
    """One actionable line for a failed checkpoint POST."""
    node = target["node"]
    what = _label(target)
    message = err.message or ""
    status = err.status
    if status == 401:
        return "%s: the API server rejected the credentials (401): the token is missing, expired or invalid" % what
    if status == 403:
        lowered = message.lower()
        if "nodes/proxy" in lowered or (err.details.get("kind") == "nodes" and "checkpoint" not in lowered):
            rule = "create on nodes/proxy (the API server's node proxy)"
        elif "checkpoint" in lowered:
            rule = "create on nodes/checkpoint (the kubelet authorises checkpoints itself)"
        else:
            rule = "create on nodes/proxy and create on nodes/checkpoint"
        return "%s: forbidden on node %s: the caller's RBAC lacks %s: %s" % (what, node, rule, message)
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
        return "%s: cannot reach the kubelet on node %s: %s" % (what, node, message or str(err))
    return "%s: HTTP %s from node %s: %s" % (what, status, node, message)


def _checkpoint(cluster, target, timeout):
    path = "/api/v1/nodes/%s/proxy/checkpoint/%s/%s/%s" % tuple(
        quote(target[k], safe="") for k in ("node", "namespace", "pod", "container"))
    query = [("timeout", str(timeout))] if timeout else []
    started = time.monotonic()
    answer = cluster.request("POST", path, "checkpoint %s on node %s" % (_label(target), target["node"]),
                             query=query, timeout=(timeout + 60) if timeout else None)
    items = answer.get("items") if isinstance(answer, dict) else None
    if not items:
        raise ApiError("checkpoint %s" % _label(target), "unexpected kubelet answer", 200,
                       "the kubelet answered without an archive path: %r" % (answer,))
    return dict(target, path=items[0], duration=round(time.monotonic() - started, 3))


def run(cluster, targets, timeout=None, parallel=4, check_mode=False):
    """Checkpoint every target. Returns the module result; raises CheckpointFailed on any failure."""
    if check_mode:
        planned = [dict(t, path=None, duration=None) for t in targets]
        return {"changed": True, "checkpoints": planned,
                "msg": "would checkpoint %d container(s): %s" % (len(targets), ", ".join(_label(t) for t in targets))}
    done, failures = [], []

    def one(target):
        try:
            return _checkpoint(cluster, target, timeout), None
        except ApiError as err:
            return None, dict(target, status=err.status, msg=explain(err, target))

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets) or 1))) as pool:
        for ok, failed in pool.map(one, targets):
            if ok:
                done.append(ok)
            else:
                failures.append(failed)
    result = {"changed": bool(done), "checkpoints": done, "failures": failures}
    if failures:
        first = failures[0]["msg"]
        more = " (and %d more failure(s), see failures)" % (len(failures) - 1) if len(failures) > 1 else ""
        raise CheckpointFailed("%d of %d checkpoint(s) failed: %s%s" % (len(failures), len(targets), first, more),
                               result)
    result["msg"] = "checkpointed %d container(s) on %s" % (
        len(done), ", ".join(sorted(set(c["node"] for c in done))))
    return result
