# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chain-of-custody record of a run (schema: schema/custody-v1.json, docs/custody-record.md),
the gathering of every node's results, and the severity gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SCHEMA = "forensic.checkpoint/chain-of-custody/v1"
SEVERITIES = ("info", "low", "medium", "high", "critical")
CORE_KEYS = ("pid", "path", "size", "sha256")


def gather(hosts):
    """``results`` of every node, by key, and ``failed_nodes``: ``hosts`` maps each analyser host
    to its facts (``_forensic_checkpoint_results`` when its analysis completed)."""
    results, failed = [], []
    for name in sorted(hosts or {}):
        facts = hosts[name] or {}
        if facts.get("_forensic_checkpoint_results") is not None:
            results.extend(facts["_forensic_checkpoint_results"])
        else:
            failed.append({"node": (facts.get("_forensic_checkpoint_analyser") or {}).get("node") or name,
                           "error": facts.get("_forensic_checkpoint_error") or "the analysis did not run",
                           "archives": [a["path"] for a in facts.get("forensic_checkpoint_archives") or []]})
    return {"results": sorted(results, key=lambda r: r["key"]), "failed_nodes": failed}


def counts(findings):
    """Findings per severity, most severe first, only the severities present."""
    seen = [f.get("severity") or "info" for f in findings or []]
    return dict((s, seen.count(s)) for s in reversed(SEVERITIES) if s in seen)


def _outputs(r, run):
    """Files this run wrote on the controller for ``r``: its report, its analysis as JSON."""
    out = [r.get("report")] if r.get("report") else []
    if r.get("analysis") is not None:
        out.append("%s/analysis/%s.json" % (run.get("dir"), r["slug"]))
    return out


def _item(r, run, hashes):
    analysis = r.get("analysis") or {}
    archive = r.get("archive") or {}
    analyser = r.get("analyser") or {}
    node = {"name": r["node"]}
    node.update((run.get("nodes") or {}).get(r["node"]) or {})
    outputs = [{"path": p, "sha256": hashes.get(p)} for p in _outputs(r, run)]
    return {
        "container": {"namespace": r.get("namespace"), "pod": r.get("pod"), "pod_uid": r.get("pod_uid"),
                      "container": r.get("container"), "container_id": r.get("container_id"),
                      "image": r.get("image"), "image_id": r.get("image_id"),
                      "started_at": r.get("container_started_at"), "restart_count": r.get("restart_count"),
                      "identity_changed": r.get("identity_changed") or []},
        "node": node,
        "checkpoint": {"archive": archive.get("path") or r.get("path"), "size": archive.get("size"),
                       "sha256": archive.get("sha256"),
                       "sha256_computed_on": "node %s, analyser pod %s" % (r["node"], analyser.get("pod") or analyser.get("host")),
                       "checkpointed": archive.get("checkpointed"), "engine": archive.get("engine"),
                       "criu_version": archive.get("criu_version"), "request_seconds": r.get("checkpoint_seconds"),
                       "connection_dropped": r.get("dropped"),
                       "removed_from_node": bool(r.get("removed_from_node"))},
        "analysis": {"analyser": analyser, "analyzed_at": r.get("analyzed_at"),
                     "findings": counts(analysis.get("findings")), "report": r.get("report"),
                     "report_sha256": hashes.get(r.get("report")) if r.get("report") else None,
                     "cores": [dict((k, c.get(k)) for k in CORE_KEYS) for c in r.get("cores") or []]},
        "outputs": outputs,
        "transfers": [dict((k, t.get(k)) for k in ("kind", "path", "source", "node_sha256", "sha256", "verified"))
                      for t in r.get("fetched") or []],
    }


def record(results, run, failed_nodes=None, skipped=None, output_stats=None, finished=None):
    """The record: who ran it, when, against which cluster, and for each container its identity,
    its archive (size, SHA-256 on the node and on arrival), what was written, fetched and removed.
    ``output_stats`` are the controller's stat (with checksum) of each file written, by path."""
    hashes = dict((r["item"], (r.get("stat") or {}).get("checksum")) for r in output_stats or [] if r.get("item"))
    return {
        "schema": SCHEMA, "run_id": run["id"], "started": run["started"], "finished": finished,
        "collection": run.get("collection") or {}, "operator": run.get("operator") or {},
        "cluster": run.get("cluster") or {}, "failed_nodes": failed_nodes or [],
        "skipped": [dict((k, s.get(k)) for k in ("namespace", "pod", "container", "path", "reason") if s.get(k) is not None)
                    for s in list(skipped or []) + [dict(r, reason=r["skipped"]) for r in results or [] if r.get("skipped")]],
        "items": [_item(r, run, hashes) for r in results or []],
    }


def _rank(severity):
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def over(results, threshold):
    """Findings at or above ``threshold`` ('none': no gate), as ``key: severity title`` lines."""
    if threshold in (None, "", "none"):
        return []
    rank = SEVERITIES.index(threshold)
    return ["%s: %s %s" % (r["key"], f.get("severity") or "info", f.get("title") or f.get("id") or "")
            for r in results or [] for f in (r.get("analysis") or {}).get("findings") or []
            if _rank(f.get("severity")) >= rank]


def altered(results):
    """One line per fetched file whose SHA-256 on arrival differs from the node's."""
    return ["%s has sha256 %s on its node but %s on the controller (copy set aside as %s)"
            % (t["source"], t["node_sha256"], t["sha256"], t["path"])
            for r in results or [] for t in r.get("fetched") or [] if not t["verified"]]


def output_paths(results, run):
    """Every file this run wrote on the controller for its containers (to hash them)."""
    return [p for r in results or [] for p in _outputs(r, run)]
