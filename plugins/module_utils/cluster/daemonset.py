# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for a DaemonSet's pods on the nodes that matter, failing within seconds when they cannot run.

Only the nodes that hold targets need the analyser: a NotReady node elsewhere must not fail the
run. What cannot get better by waiting is reported at once, in the cluster's own words:

* the image: a container waiting with ``ErrImagePull``, ``ImagePullBackOff``, ``InvalidImageName``,
  ``ErrImageNeverPull`` or ``CreateContainerConfigError`` (the kubelet's reasons, its message
  says why);
* admission: the DaemonSet controller cannot create the pod, a ``FailedCreate`` event on the
  DaemonSet (an SCC on OpenShift, ``violates PodSecurity`` elsewhere), with that event's message.

A pod is current when its ``pod-template-generation`` label equals the DaemonSet's generation
(what the DaemonSet controller stamps on the pods it creates).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.checkpoint import quote_path
from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster.client import ApiError, Patient
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

HOPELESS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
            "CreateContainerConfigError", "CreateContainerError")


class NotRunning(CheckpointError):
    """The DaemonSet's pods cannot run where they must; ``result`` has what was seen."""

    def __init__(self, subject, problem, result):
        super(NotRunning, self).__init__(subject, problem)
        self.result = result


def _ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _stuck(pod):
    """(reason, message) of a container that waiting will not start, else None."""
    status = pod.get("status") or {}
    for entry in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (entry.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in HOPELESS:
            return waiting["reason"], waiting.get("message") or ""
    return None


def look(cluster, namespace, name, nodes):
    """One look: (per node state, the first hopeless problem or None)."""
    subject = "DaemonSet %s/%s" % (namespace, name)
    ds = cluster.get("/apis/apps/v1/namespaces/%s/daemonsets/%s" % (quote_path(namespace), quote_path(name)),
                     subject, missing_ok=True)
    if ds is None:
        raise CheckpointError(subject, "not found")
    labels = ((ds.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = cluster.get("/api/v1/namespaces/%s/pods" % quote_path(namespace), "pods of %s" % subject,
                       query=[("labelSelector", ",".join("%s=%s" % kv for kv in sorted(labels.items())))]).get("items") or []
    generation = str((ds.get("metadata") or {}).get("generation", ""))
    nodes = nodes or sorted(set((p.get("spec") or {}).get("nodeName") for p in pods) - {None})
    status = ds.get("status") or {}
    if status.get("observedGeneration", 0) >= int(generation or 0) and status.get("desiredNumberScheduled") == 0:
        return {}, "selects no node: check its node selector and tolerations"
    states = {}
    for node in nodes:
        here = [p for p in pods if (p.get("spec") or {}).get("nodeName") == node
                and not (p.get("metadata") or {}).get("deletionTimestamp")]
        current = [p for p in here if ((p.get("metadata") or {}).get("labels") or {}).get(
            "pod-template-generation", generation) == generation]
        ready = [p for p in current if _ready(p)]
        states[node] = {"pod": (ready or current or here or [{"metadata": {}}])[0]["metadata"].get("name"),
                        "ready": bool(ready)}
        for pod in current:
            stuck = _stuck(pod)
            if stuck:
                return states, "pod %s on node %s: %s: %s" % (pod["metadata"]["name"], node, stuck[0], stuck[1])
    try:
        events = cluster.get("/api/v1/namespaces/%s/events" % quote_path(namespace), "events of %s" % subject,
                             query=[("fieldSelector", "involvedObject.kind=DaemonSet,involvedObject.name=%s" % name)])
    except ApiError as err:
        if err.status not in (401, 403):
            raise
        events = None  # without events, an admission refusal shows as a timeout
    refused = [e for e in (events or {}).get("items") or [] if e.get("reason") == "FailedCreate"]
    if refused and not all(s["ready"] for s in states.values()):
        latest = sorted(refused, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")[-1]
        return states, "cannot create its pods: %s" % latest.get("message")
    return states, None


def wait(cluster, namespace, name, nodes, timeout=600, interval=3, sleep=time.sleep, clock=time.monotonic):
    """Until the DaemonSet has a ready, current pod on each of ``nodes``; the module result."""
    subject = "DaemonSet %s/%s" % (namespace, name)
    api = Patient(min(timeout, 900), sleep, clock)
    start = clock()
    progress, last = [], None
    while True:
        states, problem = api.call(look, cluster, namespace, name, nodes)
        seen = sorted((n, s["ready"]) for n, s in states.items())
        if seen != last:
            last = seen
            progress.append({"elapsed": round(clock() - start, 1),
                             "ready": sorted(n for n, s in states.items() if s["ready"]),
                             "waiting": sorted(n for n, s in states.items() if not s["ready"])})
        result = {"changed": False, "nodes": states, "progress": progress, "outages": api.outages}
        if problem:
            raise NotRunning(subject, problem, result)
        if states and all(s["ready"] for s in states.values()):
            result["msg"] = "%s ready on node(s) %s" % (subject, ", ".join(sorted(states)))
            return result
        if clock() - start >= timeout:
            raise NotRunning(subject, "not ready after %ds on node(s) %s" % (
                timeout, ", ".join(n for n, s in sorted(states.items()) if not s["ready"]) or "(none has a pod yet)"),
                result)
        sleep(interval)
