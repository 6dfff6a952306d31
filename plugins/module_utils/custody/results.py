# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One node's results, from what its analysis tasks registered: what to fetch, what arrived
intact, what may be removed from the node, and one result per archive."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

MISMATCH = ".sha256-MISMATCH"


def _ok(results):
    """Loop results that ran (a failed or skipped item carries none of the module's keys)."""
    return [r for r in results or [] if not r.get("skipped") and not r.get("failed")]


def _info(info_results, archive):
    """checkpoint_info's description of ``archive`` (matched by path: the loop order is not trusted)."""
    for r in _ok(info_results):
        if (r.get("item") or {}).get("key") == archive["key"] and r.get("checkpoints"):
            return r["checkpoints"][0]
    return None


def _info_error(info_results, archive):
    for r in info_results or []:
        if (r.get("item") or {}).get("key") == archive["key"] and (r.get("failed") or not r.get("checkpoints")):
            return r.get("msg") or "not found on the node"
    return "not described on the node"


def described(archives, info_results):
    """The archives checkpoint_info could read on the node (a missing one is skipped, not fatal)."""
    return [a for a in archives or [] if _info(info_results, a) is not None]


def fetch_items(archives, info_results, cores_results):
    """What to bring back: each archive (by the SHA-256 computed on its node), then each core."""
    items = []
    for a in archives or []:
        info = _info(info_results, a)
        if info is None:  # not described on the node (missing there): nothing to fetch or verify
            continue
        items.append({"key": a["key"], "kind": "archive", "src": a["path"],
                      "dest": "%s/%s" % (a["node"], posixpath.basename(a["path"])), "sha256": info["archive"]["sha256"]})
    for r in _ok(cores_results):
        for core in r.get("cores") or []:
            items.append({"key": r["item"]["key"], "kind": "core", "src": core["path"], "sha256": core.get("sha256"),
                          "dest": "%s/%s-cores/%s" % (r["item"]["node"], r["item"]["slug"], posixpath.basename(core["path"]))})
    return items


def transfers(stat_results):
    """What arrived, from the controller's stat of each fetched file (its ``item.item`` is the
    fetch item): verified when the SHA-256 on arrival is the one computed on the node."""
    out = []
    for r in stat_results or []:
        want = r["item"]["item"]
        stat = r.get("stat") or {}
        got = stat.get("checksum")
        ok = bool(got) and got == want.get("sha256")
        path = stat.get("path") or r["item"].get("dest")
        out.append({"key": want["key"], "kind": want.get("kind", "archive"), "source": want["src"],
                    "path": path if ok or not stat.get("exists") else path + MISMATCH,
                    "node_sha256": want.get("sha256"), "sha256": got, "verified": ok})
    return out


def removable(arrived, archives, checkpoint_dir):
    """Archives that may be removed from their node: fetched and verified (SHA-256 on the node ==
    on arrival), and inside the kubelet's checkpoint directory; nothing else, ever."""
    verified = dict((t["source"], t["sha256"]) for t in arrived or [] if t["verified"] and t["kind"] == "archive")
    root = posixpath.normpath(checkpoint_dir or "/nonexistent") + "/"
    # node and sha256 for checkpoint_archive_remove, which checks the file on the node against it
    return [{"key": a["key"], "node": a.get("node"), "path": a["path"], "sha256": verified[a["path"]]} for a in archives or []
            if a["path"] in verified and posixpath.normpath(a["path"]).startswith(root)]


def node_results(archives, registered, analyser, now):
    """One result per archive of this node. ``registered`` holds the tasks' registered loops:
    info, analyze, memory, cores, reports, stats (the controller's stat of what arrived) and
    removed (checkpoint_archive_remove's result)."""
    arrived = transfers(registered.get("stats"))
    removed = set((r["node"], r["path"]) for r in (registered.get("removed") or {}).get("removed") or [])
    out = []
    for a in archives or []:
        info = _info(registered.get("info"), a)
        analyzed = [r for r in _ok(registered.get("analyze")) if r["item"]["key"] == a["key"]]
        memory = [{"search": m["item"][1], "matches": m.get("matches") or [], "truncated": bool(m.get("truncated")),
                   "warnings": m.get("warnings") or []}
                  for m in _ok(registered.get("memory")) if m["item"][0]["key"] == a["key"]]
        cores = [c for r in _ok(registered.get("cores")) if r["item"]["key"] == a["key"] for c in r.get("cores") or []]
        reports = [r["dest"] for r in _ok(registered.get("reports")) if r["item"]["key"] == a["key"] and r.get("dest")]
        archive = {"path": a["path"]}
        if info:
            archive.update({"size": info["archive"]["size"], "sha256": info["archive"]["sha256"],
                            "compression": info["archive"].get("compression"), "engine": info.get("engine"),
                            "created": info.get("created"), "checkpointed": info.get("checkpointed"),
                            "criu_version": info.get("criu_version")})
        result = dict(a)
        if info is None:
            result["skipped"] = "archive not readable on node %s: %s" % (a["node"], _info_error(registered.get("info"), a))
        result.update({"analyser": analyser, "archive": archive, "analyzed_at": now,
                       "analysis": analyzed[0].get("analysis") if analyzed else None,
                       "memory": memory, "cores": cores, "report": reports[0] if reports else None,
                       "fetched": [t for t in arrived if t["key"] == a["key"]],
                       "removed_from_node": (a.get("node"), a["path"]) in removed})
        out.append(result)
    return out
