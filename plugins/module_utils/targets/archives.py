# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each archive the kubelet wrote, tied to its pod, its node and the analyser pod on that node."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
ARCHIVE_SUFFIX = re.compile(r"\.tar(\.(gz|zst))?$")


def slug(*parts):
    """A file name from names an attacker may choose (pod names, archive names): no separators,
    no dot-dot, nothing a shell or a file system reads specially."""
    name = UNSAFE.sub("-", "_".join(str(p) for p in parts)).lstrip(".")
    return name or "unnamed"


def _by_name(items, name):
    return next((i for i in items or [] if i.get("name") == name), {})


def _get(obj, *path):
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def running_analysers(pods):
    """Analyser pods by node: Running and not being deleted."""
    return dict((p["spec"]["nodeName"], p) for p in pods or []
                if _get(p, "status", "phase") == "Running" and not _get(p, "metadata", "deletionTimestamp")
                and _get(p, "spec", "nodeName"))


def match(checkpoints, pods, nodes, analyser_pods):
    """``archives`` (one per checkpoint, with the pod's image and IDs), ``nodes`` (nodeInfo by
    name), ``analysers`` (running analyser pod by node) and ``missing`` (nodes holding an archive
    with no running analyser)."""
    by_key = dict(("%s/%s" % (_get(p, "metadata", "namespace"), _get(p, "metadata", "name")), p) for p in pods or [])
    archives = []
    for c in checkpoints or []:
        pod = by_key.get("%s/%s" % (c["namespace"], c["pod"]), {})
        status = _by_name(_get(pod, "status", "containerStatuses"), c["container"])
        spec = _by_name(_get(pod, "spec", "containers"), c["container"])
        archives.append({
            "key": "%s/%s/%s" % (c["namespace"], c["pod"], c["container"]),
            "slug": slug(c["namespace"], c["pod"], c["container"]),
            "node": c["node"], "namespace": c["namespace"], "pod": c["pod"], "container": c["container"],
            "path": c["path"], "checkpoint_seconds": c.get("duration"),
            "pod_uid": c.get("pod_uid") or _get(pod, "metadata", "uid"),
            "container_started_at": c.get("started_at"), "restart_count": c.get("restart_count"),
            "identity_changed": c.get("identity_changed") or [], "dropped": c.get("dropped"),
            "image": spec.get("image") or status.get("image"), "image_id": status.get("imageID"),
            "container_id": c.get("container_id") or status.get("containerID")})
    analysers = running_analysers(analyser_pods)
    held = sorted(set(a["node"] for a in archives))
    return {"archives": archives, "analysers": analysers,
            "nodes": dict((_get(n, "metadata", "name"), _get(n, "status", "nodeInfo") or {}) for n in nodes or []),
            "missing": [n for n in held if n not in analysers], "hosts": ["forensic-analyser-" + n for n in held]}


def local(found):
    """Archives already on the controller (checkpoint_info's ``checkpoints``), in the same shape."""
    return [{"key": c["name"], "slug": slug(ARCHIVE_SUFFIX.sub("", c["name"])), "node": "controller",
             "namespace": c.get("namespace"), "pod": c.get("pod"), "container": c.get("container"),
             "path": c["path"], "checkpoint_seconds": None, "pod_uid": None, "container_started_at": None,
             "restart_count": None, "identity_changed": [], "dropped": None,
             "image": c.get("image"), "image_id": c.get("image_id"), "container_id": c.get("id")}
            for c in found or []]


def analyser(pod, container, checkpoint_dir=None):
    """What the custody record says about the analyser pod that read the archives, and whether
    its container mounts ``checkpoint_dir`` writable (needed only to remove verified archives)."""
    status = _by_name(_get(pod, "status", "containerStatuses"), container)
    spec = _by_name(_get(pod, "spec", "containers"), container)
    mounts = [m for m in spec.get("volumeMounts") or [] if m.get("mountPath", "").rstrip("/") == (checkpoint_dir or "").rstrip("/")]
    return {"node": _get(pod, "spec", "nodeName"), "namespace": _get(pod, "metadata", "namespace"),
            "pod": _get(pod, "metadata", "name"), "pod_uid": _get(pod, "metadata", "uid"),
            "image": status.get("image") or (_get(pod, "spec", "containers") or [{}])[0].get("image"),
            "image_id": status.get("imageID"),
            "checkpoint_dir_writable": bool(mounts) and not any(m.get("readOnly") for m in mounts)}


def pods_summary(pods):
    """Where the analyser runs: node, pod and phase of each pod."""
    return [{"node": _get(p, "spec", "nodeName") or "", "pod": _get(p, "metadata", "name"),
             "phase": _get(p, "status", "phase") or "Pending"} for p in pods or []]
