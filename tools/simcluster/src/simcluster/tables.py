# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side printing (``meta.k8s.io/v1 Table``), which ``kubectl get`` asks for.

Columns follow the real server's for built-in types and the CRDs' additionalPrinterColumns for
the OpenShift types, so ``kubectl get nodes,mcp,pods`` looks as it does on a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from .selectors import selector_to_string
from .util import condition, dig, human_age, parse_iso


def _age(obj):
    created = parse_iso(obj["metadata"].get("creationTimestamp"))
    return human_age(time.time() - created) if created else "<unknown>"


def _cond(obj, kind):
    cond = condition(dig(obj, "status", "conditions"), kind)
    return cond.get("status", "") if cond else ""


def _pod_status(pod):
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in dig(pod, "status", "containerStatuses", default=[]):
        waiting = dig(status, "state", "waiting", "reason")
        if waiting:
            return waiting
    if dig(pod, "status", "phase") == "Pending":
        scheduled = condition(dig(pod, "status", "conditions"), "PodScheduled")
        if scheduled and scheduled.get("status") == "False":
            return "Pending"
        return "ContainerCreating" if dig(pod, "spec", "nodeName") else "Pending"
    return dig(pod, "status", "phase", default="Unknown")


def _pod_ready(pod):
    statuses = dig(pod, "status", "containerStatuses", default=[])
    total = len(dig(pod, "spec", "containers", default=[]))
    return "%d/%d" % (len([s for s in statuses if s.get("ready")]), total)


def _node_status(node):
    ready = _cond(node, "Ready")
    text = "Ready" if ready == "True" else "NotReady" if ready == "False" else "Unknown"
    if dig(node, "spec", "unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(node):
    roles = sorted(k.split("/", 1)[1] for k in node["metadata"].get("labels") or {}
                   if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _address(node, kind):
    return next((a["address"] for a in dig(node, "status", "addresses", default=[])
                 if a.get("type") == kind), "<none>")


def _col(name, fn, kind="string", priority=0, fmt=""):
    return {"name": name, "type": kind, "format": fmt, "priority": priority,
            "description": name}, fn


NAME = _col("Name", lambda o: o["metadata"]["name"], fmt="name")
AGE = _col("Age", _age)

COLUMNS = {
    "pods": [NAME, _col("Ready", _pod_ready), _col("Status", _pod_status),
             _col("Restarts", lambda o: sum(s.get("restartCount", 0) for s in dig(
                 o, "status", "containerStatuses", default=[])), "integer"), AGE,
             _col("IP", lambda o: dig(o, "status", "podIP", default="<none>"), priority=1),
             _col("Node", lambda o: dig(o, "spec", "nodeName", default="<none>"), priority=1),
             _col("Nominated Node", lambda o: "<none>", priority=1),
             _col("Readiness Gates", lambda o: "<none>", priority=1)],
    "nodes": [NAME, _col("Status", _node_status), _col("Roles", _node_roles), AGE,
              _col("Version", lambda o: dig(o, "status", "nodeInfo", "kubeletVersion",
                                            default="")),
              _col("Internal-IP", lambda o: _address(o, "InternalIP"), priority=1),
              _col("External-IP", lambda o: _address(o, "ExternalIP"), priority=1),
              _col("OS-Image", lambda o: dig(o, "status", "nodeInfo", "osImage"), priority=1),
              _col("Kernel-Version", lambda o: dig(o, "status", "nodeInfo", "kernelVersion"),
                   priority=1),
              _col("Container-Runtime", lambda o: dig(o, "status", "nodeInfo",
                                                      "containerRuntimeVersion"), priority=1)],
    "namespaces": [NAME, _col("Status", lambda o: dig(o, "status", "phase", default="")), AGE],
    "deployments": [NAME, _col("Ready", lambda o: "%d/%d" % (
        dig(o, "status", "readyReplicas", default=0), dig(o, "spec", "replicas", default=0))),
        _col("Up-to-date", lambda o: dig(o, "status", "updatedReplicas", default=0), "integer"),
        _col("Available", lambda o: dig(o, "status", "availableReplicas", default=0), "integer"),
        AGE,
        _col("Containers", lambda o: ",".join(c["name"] for c in dig(
            o, "spec", "template", "spec", "containers", default=[])), priority=1),
        _col("Images", lambda o: ",".join(c.get("image", "") for c in dig(
            o, "spec", "template", "spec", "containers", default=[])), priority=1),
        _col("Selector", lambda o: selector_to_string(dig(o, "spec", "selector")), priority=1)],
    "replicasets": [NAME,
                    _col("Desired", lambda o: dig(o, "spec", "replicas", default=0), "integer"),
                    _col("Current", lambda o: dig(o, "status", "replicas", default=0),
                         "integer"),
                    _col("Ready", lambda o: dig(o, "status", "readyReplicas", default=0),
                         "integer"), AGE],
    "daemonsets": [NAME] + [
        _col(title, lambda o, k=key: dig(o, "status", k, default=0), "integer")
        for title, key in (("Desired", "desiredNumberScheduled"),
                           ("Current", "currentNumberScheduled"), ("Ready", "numberReady"),
                           ("Up-to-date", "updatedNumberScheduled"),
                           ("Available", "numberAvailable"))] + [
        _col("Node Selector", lambda o: ",".join("%s=%s" % kv for kv in sorted((dig(
            o, "spec", "template", "spec", "nodeSelector") or {}).items())) or "<none>"),
        AGE],
    "configmaps": [NAME, _col("Data", lambda o: len(o.get("data") or {}) + len(
        o.get("binaryData") or {}), "integer"), AGE],
    "secrets": [NAME, _col("Type", lambda o: o.get("type", "")),
                _col("Data", lambda o: len(o.get("data") or {}), "integer"), AGE],
    "serviceaccounts": [NAME, _col("Secrets", lambda o: len(o.get("secrets") or []),
                                   "integer"), AGE],
    "services": [NAME, _col("Type", lambda o: dig(o, "spec", "type", default="ClusterIP")),
                 _col("Cluster-IP", lambda o: dig(o, "spec", "clusterIP", default="<none>")),
                 _col("External-IP", lambda o: "<none>"),
                 _col("Port(s)", lambda o: ",".join("%s/%s" % (p.get("port"), p.get(
                     "protocol", "TCP")) for p in dig(o, "spec", "ports", default=[]))), AGE],
    "events": [_col("Last Seen", _age), _col("Type", lambda o: o.get("type", "")),
               _col("Reason", lambda o: o.get("reason", "")),
               _col("Object", lambda o: "%s/%s" % (dig(o, "involvedObject", "kind",
                                                       default="").lower(),
                                                   dig(o, "involvedObject", "name"))),
               _col("Message", lambda o: o.get("message", ""))],
    "machineconfigpools": [NAME,
                           _col("Config", lambda o: dig(o, "status", "configuration", "name",
                                                        default="")),
                           _col("Updated", lambda o: _cond(o, "Updated")),
                           _col("Updating", lambda o: _cond(o, "Updating")),
                           _col("Degraded", lambda o: _cond(o, "Degraded"))] + [
        _col(title, lambda o, k=key: dig(o, "status", k, default=0), "integer")
        for title, key in (("MachineCount", "machineCount"),
                           ("ReadyMachineCount", "readyMachineCount"),
                           ("UpdatedMachineCount", "updatedMachineCount"),
                           ("DegradedMachineCount", "degradedMachineCount"))] + [AGE],
    "machineconfigs": [NAME,
                       _col("GeneratedByController", lambda o: (o["metadata"].get(
                           "annotations") or {}).get(
                           "machineconfiguration.openshift.io/generated-by-controller-version",
                           "")),
                       _col("IgnitionVersion", lambda o: dig(o, "spec", "config", "ignition",
                                                             "version", default="")), AGE],
    "clusterversions": [NAME,
                        _col("Version", lambda o: next((h.get("version") for h in dig(
                            o, "status", "history", default=[]) if h.get("state") ==
                            "Completed"), "")),
                        _col("Available", lambda o: _cond(o, "Available")),
                        _col("Progressing", lambda o: _cond(o, "Progressing")),
                        _col("Since", _age),
                        _col("Status", lambda o: (condition(dig(o, "status", "conditions"),
                                                            "Progressing") or {}).get(
                            "message", ""))],
    "clusteroperators": [NAME,
                         _col("Version", lambda o: next((v.get("version") for v in dig(
                             o, "status", "versions", default=[]) if v.get("name") ==
                             "operator"), "")),
                         _col("Available", lambda o: _cond(o, "Available")),
                         _col("Progressing", lambda o: _cond(o, "Progressing")),
                         _col("Degraded", lambda o: _cond(o, "Degraded")),
                         _col("Since", _age)],
}


def wants_table(accept):
    return "as=Table" in (accept or "")


def to_table(rt, objs, include="Metadata", list_meta=None):
    columns = COLUMNS.get(rt.plural, [NAME, AGE])
    rows = []
    for obj in objs:
        row = {"cells": [fn(obj) for _title, fn in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
            "columnDefinitions": [c for c, _fn in columns], "rows": rows}
