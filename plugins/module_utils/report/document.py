# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident reports of one checkpoint (or of the diff of two): HTML, markdown or JSON.

Everything in an archive is attacker-controlled (command lines, paths, file contents), so every
value is escaped for the format it lands in: HTML-escaped in HTML, and in markdown too (markdown
viewers render inline HTML). The HTML is one self-contained file: inline CSS, no script, no
network resource, and a Content-Security-Policy that forbids loading any. Long command lines and
paths wrap, and tables have fixed layouts, so the page reads without scrolling sideways.

An incident responder reads it top down: verdict, findings (each linked to the process, socket,
file and memory rows that support it), a timeline of what the archive dates, the rows themselves
(noise such as Python bytecode caches folded, repeated rows folded with their fds), memory hits
with a hexdump of their context, and who generated it, when, with which version, for which case.

Reports are written 0600 to exactly the path given, never following a symlink there. The
generation time is the only part of a report that changes between runs of the same input: a
report that differs from the file on disk by that alone is left as it is (idempotence).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import html
import json
import os
import re
import socket
import stat

try:
    import pwd
except ImportError:  # not a POSIX system: the report names the uid
    pwd = None

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import hexdump
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape

# The collection's version, as galaxy.yml says (tests/packaging checks they agree): module_utils
# run inside AnsiballZ on the managed node, where no galaxy.yml or MANIFEST.json can be read.
VERSION = "0.1.0"
FORMATS = ("html", "markdown", "json")
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")

CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;background:#f4f6f8;margin:0}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:2px solid #d5dbe1;padding-bottom:4px}
h3{font-size:16px;margin:16px 0 6px}
.sub{color:#5a6672;margin:0 0 16px}
.verdict{border-radius:8px;padding:14px 18px;margin:12px 0;color:#fff;font-size:17px}
.verdict b{font-size:20px;text-transform:uppercase;margin-right:10px}
.v-compromised{background:#b3261e}.v-suspicious{background:#b86e00}.v-clean{background:#2e7d32}.v-changed{background:#455a64}
.counts span{display:inline-block;margin:4px 6px 0 0}
table{width:100%;table-layout:fixed;border-collapse:collapse;background:#fff;margin:6px 0 12px}
th,td{border:1px solid #d5dbe1;padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#e9edf1;font-weight:600}
td.k{width:24%;color:#3c4650;background:#f8f9fa}
pre,code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;margin:0;background:#f6f8fa;padding:6px;border-radius:4px}
code{overflow-wrap:anywhere;word-break:break-word}
.sev{display:inline-block;min-width:64px;text-align:center;border-radius:4px;padding:1px 6px;color:#fff;font-size:12px;
font-weight:700;text-transform:uppercase}
.s-critical{background:#7f0000}.s-high{background:#c62828}.s-medium{background:#e08a00}.s-low{background:#5472a0}
.s-info{background:#78909c}
.muted{color:#5a6672;font-size:13px}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:22px}
ul.tree{padding-left:0;background:#fff;border:1px solid #d5dbe1;padding:8px 12px}
ul.tree li{margin:4px 0;overflow-wrap:anywhere;word-break:break-word}
ul.tree ul{border-left:2px solid #d5dbe1;margin-left:6px}
.flag{display:inline-block;background:#fdecea;color:#8b1a12;border-radius:4px;padding:0 5px;font-size:12px;margin-left:4px}
footer{margin-top:32px;color:#5a6672;font-size:12px}
a{color:#1a56a8}a.ref{display:inline-block;margin:2px 6px 0 0;font-size:12px}
tr:target,li:target{outline:3px solid #e08a00}
details summary{cursor:pointer}
.late{color:#8b1a12;font-weight:600}
"""


# -- document model: sections of blocks, rendered per format -----------------------------------

def _text(value):
    """A value as display text, control characters made visible."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value) if value else "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return escape(str(value), keep_newlines=True)  # blocks of evidence keep their lines; the rest escaped


def cell(value, style=None):
    return {"text": value, "style": style}


def _size(value):
    if not isinstance(value, int):
        return _text(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return ("%d %s" % (value, unit)) if unit == "bytes" else ("%.1f %s" % (value, unit))
        value /= 1024.0
    return str(value)


def _severity_counts(summary):
    counts = (summary or {}).get("counts") or {}
    return [(name, counts.get(name, 0)) for name in SEVERITY_ORDER]


def _findings_table(findings, supports=None):
    """Findings, worst first; with ``supports`` (finding index -> [(label, anchor)]) each row links
    to the rows that prove it, and is itself the target ``finding-<index>``."""
    rows = []
    for index, item in enumerate(findings or []):
        about = [item.get("title"), "%s" % item.get("id")]
        if item.get("attack"):
            about.append("ATT&CK %s%s" % (item["attack"], " (%s)" % item["tactic"] if item.get("tactic") else ""))
        if item.get("pid") is not None:
            about.append("pid %s" % item["pid"])
        cells = [cell(item.get("severity"), "sev"), cell("\n".join(_text(part) for part in about), "lines"),
                 cell(item.get("evidence"), "pre")]
        if supports is None:
            rows.append(cells)
        else:
            rows.append({"id": "finding-%d" % index, "cells": cells + [cell(supports.get(index) or [], "links")]})
    if supports is None:
        return ("table", ["Severity", "Finding", "Evidence"], rows, (11, 30, 59))
    return ("table", ["Severity", "Finding", "Evidence", "Shown by"], rows, (10, 25, 47, 18))


MAX_TREE_DEPTH = 64


def _anchor(kind, *parts):
    """An element id from evidence values, reduced to [A-Za-z0-9_-] so no name can leave the attribute."""
    return "-".join([kind] + [re.sub(r"[^A-Za-z0-9]", "_", str(part)) for part in parts])


def _process_tree(processes):
    """Processes under their parents. None is lost: an orphan (its parent not in the checkpoint) is
    a root; a process in a ppid cycle, or deeper than MAX_TREE_DEPTH, is shown as a root, flagged."""
    by_parent, pids, shown = {}, set(proc.get("pid") for proc in processes), set()
    for proc in processes:
        parent = proc.get("ppid") if proc.get("ppid") in pids and proc.get("ppid") != proc.get("pid") else None
        by_parent.setdefault(parent, []).append(proc)

    def node(proc, depth, flags):
        shown.add(id(proc))
        flags = list(flags)
        if proc.get("exe_deleted"):
            flags.append("deleted executable")
        if proc.get("state") not in (None, "running"):
            flags.append(proc.get("state"))
        if proc.get("ppid") not in pids and proc.get("ppid") not in (None, 0):
            flags.append("orphan: parent %s not in the checkpoint" % _text(proc.get("ppid")))
        label = "pid %s %s  uid %s  %s" % (
            proc.get("pid"), _text(proc.get("comm")), _text(proc.get("uid")), _size(proc.get("memory_size")))
        children = [] if depth >= MAX_TREE_DEPTH else [
            node(child, depth + 1, ()) for child in by_parent.get(proc.get("pid"), []) if id(child) not in shown]
        return {"id": _anchor("proc", proc.get("pid")), "label": label,
                "code": proc.get("cmdline") or _text(proc.get("argv")), "detail": "exe %s, cwd %s" % (
                    _text(proc.get("exe")), _text(proc.get("cwd"))), "flags": flags, "children": children}
    roots = [node(proc, 0, ()) for proc in by_parent.get(None, [])]
    for proc in processes:  # what no root reaches: a ppid cycle, or below the depth shown
        if id(proc) not in shown:
            roots.append(node(proc, 0, ["ppid %s: in a parent cycle or below depth %d" % (
                _text(proc.get("ppid")), MAX_TREE_DEPTH)]))
    return ("tree", roots)


def _endpoint(address, port):
    """``address:port`` as the findings write it (IPv6 in brackets)."""
    return "%s:%s" % ("[%s]" % address if ":" in str(address) else address, port)


def _folded(rows, key_of):
    """Rows that differ only by fd folded into one (fds 0, 1 and 2 on /dev/null, one socket on
    three fds): [(row data, [fds])], first-seen order."""
    groups, order = {}, []
    for key, fd, data in rows:
        key = key_of(key)
        if key not in groups:
            groups[key] = (data, [])
            order.append(key)
        groups[key][1].append(fd)
    return [groups[key] for key in order]


def _network(processes, index):
    rows = []
    for proc in processes:
        for sock in proc.get("sockets") or []:
            unix = sock.get("family") == "unix"
            local = sock.get("path") if unix else "%s:%s" % (_text(sock.get("local_address")), _text(sock.get("local_port")))
            remote = sock.get("peer_path") if unix else (
                "%s:%s" % (_text(sock.get("remote_address")), _text(sock.get("remote_port")))
                if sock.get("remote_port") else "-")
            # An IPv6 socket talking to IPv4 peers shows IPv4 addresses: name the family they are in.
            family = "ipv4" if sock.get("ipv4_mapped") else sock.get("family")
            data = (proc.get("pid"), proc.get("comm"), "%s %s" % (_text(family), _text(sock.get("protocol") or sock.get("type"))),
                    sock.get("state"), local, remote)
            rows.append((repr(data), sock.get("fd"), data))
            if not unix:
                index.setdefault(("socket", proc.get("pid")), []).append((
                    _anchor("sock", proc.get("pid"), sock.get("fd")), sock.get("fd"),
                    _endpoint(sock.get("local_address"), sock.get("local_port")),
                    _endpoint(sock.get("remote_address"), sock.get("remote_port")) if sock.get("remote_port") else None))
    table = []
    for data, fds in _folded(rows, lambda key: key):
        anchors = [_anchor("sock", data[0], fd) for fd in fds]
        table.append({"id": anchors[0], "anchors": anchors[1:],
                      "cells": [data[0], data[1], ", ".join(_text(fd) for fd in fds)] + list(data[2:])})
    return ("table", ["pid", "process", "fd", "kind", "state", "local", "remote"], table, (7, 13, 6, 14, 14, 23, 23))


def _files(processes, index):
    rows = []
    for proc in processes:
        for entry in proc.get("files") or []:
            flags = "deleted" if entry.get("deleted") else ""
            if entry.get("deleted") and entry.get("recoverable"):
                flags += ", recovered %s" % _size(entry.get("size"))
            data = (proc.get("pid"), proc.get("comm"), entry.get("type"), entry.get("path"), flags)
            rows.append((repr(data), entry.get("fd"), data))
            index.setdefault(("file", entry.get("path")), []).append(
                (proc.get("pid"), entry.get("fd"), _anchor("file", proc.get("pid"), entry.get("fd"))))
    table = []
    for data, fds in _folded(rows, lambda key: key):
        anchors = [_anchor("file", data[0], fd) for fd in fds]
        table.append({"id": anchors[0], "anchors": anchors[1:], "cells": [
            data[0], data[1], ", ".join(_text(fd) for fd in fds), data[2], cell(data[3], "code"),
            cell(data[4], "flag" if data[4] else None)]})
    return ("table", ["pid", "process", "fd", "type", "path", "note"], table, (7, 13, 7, 10, 45, 18))


# Rows that are noise to a responder unless a finding points at them, folded into one row each.
NOISE = (("Python bytecode caches (__pycache__, *.pyc)",
          lambda path: "/__pycache__" in path or path.endswith((".pyc", ".pyo"))),)


def _rootfs_table(entries, hashes, cited, index):
    """The rootfs diff: each changed entry with its SHA-256 when export computed one; noise (NOISE)
    that no finding cites folded into one row per kind, listing what it holds."""
    rows, folds = [], {}
    for number, entry in enumerate(entries or []):
        path = entry.get("path")
        noise = next((name for name, match in NOISE if isinstance(path, str) and match(path)), None)
        if noise and path not in cited:
            folds.setdefault(noise, []).append(entry)
            continue
        anchor = _anchor("fs", number)
        index[("rootfs", path)] = anchor
        rows.append({"id": anchor, "cells": [
            cell(path, "code"), entry.get("type"), _size(entry.get("size")), entry.get("mode"), entry.get("mtime"),
            cell(hashes.get(path) or "-", "code")]})
    for name, folded in sorted(folds.items()):
        times = sorted(str(item.get("mtime")) for item in folded if item.get("mtime"))
        total = sum(item.get("size") for item in folded if isinstance(item.get("size"), int))
        rows.append({"cells": [cell({"summary": "%d %s" % (len(folded), name),
                                     "items": [item.get("path") for item in folded]}, "fold"),
                               "folded", _size(total), "-", " to ".join(sorted(set([times[0], times[-1]])))
                               if times else "-", "-"]})
    return ("table", ["path", "type", "size", "mode", "modified", "sha256 (when exported)"], rows, (34, 8, 9, 7, 17, 25))


def _parse_time(value):
    """A timestamp of the archive (RFC 3339, nanoseconds allowed) as an aware datetime, or None."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", str(value or ""))
    if not match:
        return None
    try:
        stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    zone = match.group(3)
    offset = datetime.timedelta(0) if zone == "Z" else datetime.timedelta(
        hours=int(zone[1:3]), minutes=int(zone[4:6])) * (1 if zone[0] == "+" else -1)
    micro = int((match.group(2) or "0")[:6].ljust(6, "0"))
    return (stamp.replace(microsecond=micro) - offset).replace(tzinfo=datetime.timezone.utc)


def _timeline(container, entries, index, cited_by):
    """Events of the archive's own times: container created, files changed, checkpoint taken.
    A file dated outside the container's life (before it was created, after the checkpoint) is
    marked: its mtime was set, not earned."""
    created, taken = _parse_time(container.get("created")), _parse_time(container.get("checkpointed"))
    events = [(created, container.get("created"), "container created", None, []),
              (taken, container.get("checkpointed"), "checkpoint taken", None, [])]
    folds = {}
    for entry in entries or []:
        anchor = index.get(("rootfs", entry.get("path")))
        if anchor is None:  # folded noise: one event per kind and time
            folds.setdefault(entry.get("mtime"), []).append(entry)
            continue
        events.append((_parse_time(entry.get("mtime")), entry.get("mtime"), "%s %s changed" % (
            _text(entry.get("type")), _text(entry.get("path"))), anchor, cited_by.get(entry.get("path"), [])))
    for mtime, folded in folds.items():
        events.append((_parse_time(mtime), mtime, "%d folded entries changed (%s)" % (
            len(folded), ", ".join(name for name, _match in NOISE)), None, []))
    undated = [event for event in events if event[0] is None]
    rows = []
    for when, raw, what, anchor, findings in sorted((e for e in events if e[0] is not None), key=lambda e: e[0]) + undated:
        note = ""
        if when is not None and anchor and ((created and when < created.replace(microsecond=0)) or (taken and when > taken)):
            note = "outside the container's life"
        links = ([("file system row", anchor)] if anchor else []) + findings
        rows.append([raw if raw is not None else "not recorded", what, cell(note, "flag" if note else None),
                     cell(links, "links")])
    return ("table", ["time (UTC)", "event", "note", "shown by"], rows, (22, 48, 12, 18))


def _hit_context(finding):
    """The printable bytes the scan kept around a memory hit (already redacted), from its evidence."""
    evidence, marker = finding.get("evidence") or "", " at %s" % finding.get("address_hex")
    if finding.get("vma"):
        marker += " (%s)" % finding["vma"]
    where = evidence.find(marker + ": ")
    context = evidence[where + len(marker) + 2:] if where >= 0 else evidence.partition(": ")[2]
    return re.sub(r" \(\d+ occurrences\)$", "", context)


def _memory_hits(findings, supports):
    rows = []
    for number, item in enumerate(findings or []):
        if not item.get("address_hex"):
            continue
        anchor = "mem-%d" % number
        supports.setdefault(number, []).append(("memory %s" % item["address_hex"], anchor))
        places = ", ".join("%s (%s)" % (address, _text(vma)) for address, vma in zip(
            item.get("addresses") or [item["address_hex"]], item.get("vmas") or [item.get("vma")]))
        context = _hit_context(item).encode("utf-8", "replace")[:256]
        rows.append({"id": anchor, "cells": [
            cell([("%s" % item.get("id"), "finding-%d" % number)], "links"), item.get("pid"),
            cell("%s\n%d occurrence(s): %s" % (item.get("vma") or "?", item.get("occurrences") or 1, places), "pre"),
            cell("\n".join(hexdump(context, 0)), "pre")]})
    if not rows:
        return [("text", "No memory hits.")]
    return [("text", "Each hit's context is the printable run the scan kept around it, secrets redacted; the "
                     "hexdump's offsets count from its start."),
            ("table", ["finding", "pid", "VMA and addresses", "context (hexdump)"], rows, (14, 6, 25, 55))]


def _supports(findings, processes, index, recovered):
    """For each finding (by index), the rows that show it: its process, its sockets (by the
    endpoints its evidence names), the open-file, rootfs, deleted and recovered rows of its path."""
    pids = set(proc.get("pid") for proc in processes)
    recovered_paths = dict((item.get("path"), "rec-%d" % number) for number, item in enumerate(recovered or []))
    out = {}
    for number, item in enumerate(findings or []):
        links, pid, path = [], item.get("pid"), item.get("path")
        text = "%s\n%s" % (item.get("subject") or "", item.get("evidence") or "")
        if pid is not None and pid in pids:
            links.append(("process %s" % pid, _anchor("proc", pid)))
        for anchor, fd, local, remote in index.get(("socket", pid), []) if pid is not None else []:
            if local in text and (remote is None or remote in text):
                links.append(("socket fd %s" % fd, anchor))
        for owner, fd, anchor in index.get(("file", path), []) if path else []:
            if pid is None or owner == pid:
                links.append(("file pid %s fd %s" % (owner, fd), anchor))
        if path and ("rootfs", path) in index:
            links.append(("changed file", index[("rootfs", path)]))
        if path and ("deleted", path) in index:
            links.append(("deleted file", index[("deleted", path)]))
        if path in recovered_paths:
            links.append(("recovered file", recovered_paths[path]))
        out[number] = links
    return out


def _provenance(generated, case_id, kind):
    """Who generated the report, when, with which version, for which case."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except (AttributeError, KeyError):  # no pwd module, or a uid without a passwd entry (containers)
        user = "uid %s" % os.geteuid()
    return [["generated at", generated], ["generated by", "%s@%s" % (user, socket.gethostname())],
            ["tool", "forensic.checkpoint %s (%s)" % (VERSION, kind)], ["case id", case_id or "not given"]]


def _container_rows(container, sha256):
    archive = container.get("archive") or {}
    keys = (("container", "container"), ("pod", "pod"), ("namespace", "namespace"), ("engine", "engine"),
            ("image", "image"), ("image id", "image_id"), ("container id", "id"), ("runtime", "runtime"),
            ("hostname", "hostname"), ("ip", "ip"), ("created", "created"), ("checkpointed", "checkpointed"),
            ("criu version", "criu_version"))
    rows = [[name, container.get(key)] for name, key in keys]
    rows += [["archive", container.get("path")], ["compression", archive.get("compression")],
             ["archive size", _size(archive.get("size"))], ["archive sha256", cell(sha256, "code")]]
    return ("kv", rows)


def analysis_document(analysis, result, generated=None, case_id=None):
    """The report of one checkpoint: ``analysis`` and findings.evaluate()'s ``result``."""
    result = result or {}
    container = analysis.get("container") or {}
    # What the analysis hashed (checksum: true) or nothing: rendering never reads the evidence again.
    sha256 = (container.get("archive") or {}).get("sha256") or "not computed (checksum: false)"
    summary = result.get("summary") or {"verdict": "clean", "text": "No findings evaluated."}
    processes = analysis.get("processes") or []
    rootfs = analysis.get("rootfs") or {}
    findings = result.get("findings") or []
    recovered = result.get("recovered") or []
    hashes = dict((item.get("source"), item.get("sha256")) for item in analysis.get("exported") or []
                  if item.get("kind") == "rootfs")
    cited = set(item.get("path") for item in findings if item.get("path"))
    index = {}
    network, files = _network(processes, index), _files(processes, index)
    changed = _rootfs_table(rootfs.get("changed"), hashes, cited, index)
    deleted = []
    for number, path in enumerate(rootfs.get("deleted") or []):
        index[("deleted", path)] = "del-%d" % number
        deleted.append({"id": "del-%d" % number, "cells": [cell(path, "code")]})
    supports = _supports(findings, processes, index, recovered)
    memory = _memory_hits(findings, supports)
    cited_by = {}
    for number, item in enumerate(findings):
        if item.get("path"):
            cited_by.setdefault(item["path"], []).append((item.get("id"), "finding-%d" % number))
    provenance = _provenance(generated or _now(), case_id, "checkpoint_analyze")
    sections = [
        ("Report", [("kv", provenance)]),
        ("Findings", [_findings_table(findings, supports)] if findings else [("text", "No findings.")]),
        ("Timeline", [_timeline(container, rootfs.get("changed"), index, cited_by),
                      ("text", "Process start times: CRIU records none (its core images hold no start time).")]),
        ("Process tree", [_process_tree(processes)] if processes else [("text", "No process data.")]),
        ("Network", [network]),
        ("Open files", [files]),
        ("Memory hits", memory),
        ("Recovered deleted files", [("table", ["path", "size", "sha256", "content (head)"],
                                      [{"id": "rec-%d" % number, "cells": [
                                          cell(item["path"], "code"), _size(item.get("size")), cell(item.get("sha256"), "code"),
                                          cell(item.get("head"), "pre")]} for number, item in enumerate(recovered)],
                                      (22, 10, 25, 43))] if recovered else [("text", "None.")]),
        ("File system changes", [changed, ("h", "Deleted"),
                                 ("table", ["path"], deleted, (100,))]),
        ("Container", [_container_rows(container, sha256)]),
    ]
    warnings = list(analysis.get("warnings") or []) + list(result.get("warnings") or [])
    if warnings:
        sections.append(("Warnings", [("list", warnings)]))
    name = container.get("container") or container.get("name") or "checkpoint"
    return {"title": "Checkpoint report: %s" % name,
            "subtitle": "%s, checkpointed %s, archive sha256 %s%s" % (
                _text(container.get("image")), _text(container.get("checkpointed")), _text(sha256),
                ", case %s" % _text(case_id) if case_id else ""),
            "verdict": summary.get("verdict"), "verdict_text": summary.get("text"),
            "counts": _severity_counts(summary), "sections": sections}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def diff_document(diff, generated=None, case_id=None):
    """The report of checkpoint_diff's result."""
    before, after = diff.get("before") or {}, diff.get("after") or {}
    procs = diff.get("processes") or {}
    proc_rows = [["added", p.get("pid"), cell(p.get("cmdline"), "code"), ""] for p in procs.get("added") or []]
    proc_rows += [["removed", p.get("pid"), cell(p.get("cmdline"), "code"), ""] for p in procs.get("removed") or []]
    proc_rows += [["changed", p.get("pid"), cell(p.get("cmdline"), "code"), cell(_text(p.get("changes")), "pre")]
                  for p in procs.get("changed") or []]

    def opened_closed(part, columns):
        rows = []
        for state in ("opened", "closed", "changed"):
            for item in (diff.get(part) or {}).get(state) or []:
                rows.append([state] + [cell(_text(item.get(key)), "code") for key in columns])
        return rows
    rootfs = diff.get("rootfs") or {}
    rootfs_rows = [["added", cell(e.get("path"), "code"), _size(e.get("size")), e.get("mode")] for e in rootfs.get("added") or []]
    rootfs_rows += [["removed", cell(e.get("path"), "code"), _size(e.get("size")), e.get("mode")]
                    for e in rootfs.get("removed") or []]
    rootfs_rows += [["modified", cell(e.get("path"), "code"), ", ".join(e.get("fields") or []), ""]
                    for e in rootfs.get("modified") or []]
    rootfs_rows += [["deleted", cell(path, "code"), "", ""] for path in rootfs.get("deleted") or []]
    rootfs_rows += [["restored", cell(path, "code"), "", ""] for path in rootfs.get("restored") or []]
    new = (diff.get("findings") or {}).get("new") or []
    counts = {}
    for item in new:
        counts[item.get("severity")] = counts.get(item.get("severity"), 0) + 1
    worst = next((name for name in SEVERITY_ORDER if counts.get(name)), None)
    verdict = "compromised" if worst in ("critical", "high") else "suspicious" if worst == "medium" else (
        "changed" if diff.get("changed") else "clean")
    sections = [
        ("New findings", [_findings_table(new)] if new else [("text", "No new findings.")]),
        ("Persistence", [("list", diff.get("persistence") or ["none"])]),
        ("Resolved findings", [_findings_table((diff.get("findings") or {}).get("resolved"))]
         if (diff.get("findings") or {}).get("resolved") else [("text", "None.")]),
        ("Processes", [("table", ["change", "pid", "command", "details"], proc_rows, (11, 8, 41, 40))]),
        ("Memory", [("table", ["pid", "process", "before", "after", "delta"],
                     [[m.get("pid"), m.get("comm"), _size(m.get("before")), _size(m.get("after")),
                       "%+d bytes" % m.get("delta", 0)] for m in diff.get("memory") or []], (10, 24, 22, 22, 22))]),
        ("Open files", [("table", ["change", "pid", "fd", "path", "details"],
                         opened_closed("files", ("pid", "fd", "path", "changes")), (11, 8, 8, 43, 30))]),
        ("Sockets", [("table", ["change", "pid", "state", "local", "remote"],
                      opened_closed("sockets", ("pid", "state", "local_address", "remote_address")), (11, 8, 17, 32, 32))]),
        ("File system changes", [("table", ["change", "path", "size / fields", "mode"], rootfs_rows, (12, 56, 20, 12))]),
        ("Checkpoints", [("kv", [["container", " ".join("%s %s" % (key, value) for key, value in
                                                        sorted((diff.get("container") or {}).items()) if value)],
                                 ["before", "%s (checkpointed %s)" % (_text(before.get("path")), _text(before.get("checkpointed")))],
                                 ["before sha256", cell(before.get("sha256"), "code")],
                                 ["after", "%s (checkpointed %s)" % (_text(after.get("path")), _text(after.get("checkpointed")))],
                                 ["after sha256", cell(after.get("sha256"), "code")]])]),
    ]
    sections.insert(0, ("Report", [("kv", _provenance(generated or _now(), case_id, "checkpoint_diff"))]))
    if diff.get("warnings"):
        sections.append(("Warnings", [("list", diff["warnings"])]))
    name = (diff.get("container") or {}).get("container") or "checkpoint"
    return {"title": "Checkpoint diff: %s" % name,
            "subtitle": "%s -> %s%s" % (_text(before.get("checkpointed")), _text(after.get("checkpointed")),
                                        ", case %s" % _text(case_id) if case_id else ""),
            "verdict": verdict, "verdict_text": "%d new finding(s) in the later checkpoint." % len(new),
            "counts": [(name, counts.get(name, 0)) for name in SEVERITY_ORDER], "sections": sections}


# -- HTML ---------------------------------------------------------------------------------------

def _h(value):
    return html.escape(_text(value), quote=True)


def _html_cell(value, tag="td"):
    if not isinstance(value, dict):
        return "<%s>%s</%s>" % (tag, _h(value), tag)
    text, style = value.get("text"), value.get("style")
    if style == "sev":
        inner = '<span class="sev s-%s">%s</span>' % (_h(text), _h(text))
    elif style == "pre":
        inner = "<pre>%s</pre>" % _h(text) if text not in (None, "") else ""
    elif style == "code":
        inner = "<code>%s</code>" % _h(text)
    elif style == "lines":
        lines = _text(text).split("\n")
        inner = "<b>%s</b>" % _h(lines[0]) + "".join('<br><span class="muted">%s</span>' % _h(line) for line in lines[1:])
    elif style == "flag":
        inner = '<span class="flag">%s</span>' % _h(text)
    elif style == "links":  # anchors are made by _anchor: [A-Za-z0-9_-] only
        inner = "".join('<a class="ref" href="#%s">%s</a>' % (_h(anchor), _h(label)) for label, anchor in text)
    elif style == "fold":
        inner = "<details><summary>%s</summary><ul>%s</ul></details>" % (
            _h(text["summary"]), "".join("<li><code>%s</code></li>" % _h(item) for item in text["items"]))
    else:
        inner = _h(text)
    return "<%s>%s</%s>" % (tag, inner, tag)


def _html_tree(nodes):
    out = []
    for node in nodes:
        flags = "".join('<span class="flag">%s</span>' % _h(flag) for flag in node["flags"])
        out.append('<li id="%s"><b>%s</b>%s<br><code>%s</code><br><span class="muted">%s</span>%s</li>' % (
            _h(node["id"]), _h(node["label"]), flags, _h(node["code"]), _h(node["detail"]),
            "<ul>%s</ul>" % _html_tree(node["children"]) if node["children"] else ""))
    return "".join(out)


def _html_row(row):
    """A table row: a list of cells, or {id, anchors (more ids: the fds folded into it), cells}."""
    if not isinstance(row, dict):
        return "<tr>%s</tr>" % "".join(_html_cell(value) for value in row)
    marks = "".join('<span id="%s"></span>' % _h(anchor) for anchor in row.get("anchors") or [])
    cells = "".join(_html_cell(value) for value in row["cells"])
    if marks:
        cells = cells.replace("<td>", "<td>" + marks, 1)
    return "<tr%s>%s</tr>" % (' id="%s"' % _h(row["id"]) if row.get("id") else "", cells)


def _html_block(block):
    kind = block[0]
    if kind == "text":
        return "<p>%s</p>" % _h(block[1])
    if kind == "h":
        return "<h3>%s</h3>" % _h(block[1])
    if kind == "list":
        return "<ul>%s</ul>" % "".join("<li><code>%s</code></li>" % _h(item) for item in block[1]) if block[1] \
            else "<p>None.</p>"
    if kind == "kv":
        return "<table>%s</table>" % "".join('<tr><td class="k">%s</td>%s</tr>' % (_h(k), _html_cell(v))
                                             for k, v in block[1])
    if kind == "tree":
        return '<ul class="tree">%s</ul>' % _html_tree(block[1])
    headers, rows, widths = block[1], block[2], block[3]
    if not rows:
        return "<p>None.</p>"
    cols = "".join('<col style="width:%d%%">' % width for width in widths)
    head = "".join(_html_cell(name, "th") for name in headers)
    body = "".join(_html_row(row) for row in rows)
    return "<table><colgroup>%s</colgroup><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (cols, head, body)


def to_html(doc):
    counts = "".join('<span class="sev s-%s">%s %d</span>' % (name, name, count) for name, count in doc["counts"])
    body = ["<h1>%s</h1>" % _h(doc["title"]), '<p class="sub">%s</p>' % _h(doc["subtitle"]),
            '<div class="verdict v-%s"><b>%s</b>%s<div class="counts">%s</div></div>' % (
                _h(doc["verdict"]), _h(doc["verdict"]), _h(doc["verdict_text"]), counts)]
    for title, blocks in doc["sections"]:
        body.append("<section><h2>%s</h2>%s</section>" % (_h(title), "".join(_html_block(b) for b in blocks)))
    body.append("<footer>forensic.checkpoint report. Every value shown comes from the checkpoint archive and is "
                "untrusted.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>%s</title><style>%s</style></head><body><main>%s</main></body></html>\n"
            % (_h(doc["title"]), CSS, "\n".join(body)))


# -- markdown -----------------------------------------------------------------------------------

def _md(value, multiline=False):
    value = value.get("text") if isinstance(value, dict) else value
    if isinstance(value, dict):  # a fold: its summary
        value = value["summary"]
    elif isinstance(value, list) and value and isinstance(value[0], tuple):  # links: their labels
        value = ", ".join(label for label, _anchor in value)
    text = html.escape(_text(value), quote=False)
    text = re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)
    return text.replace("\n", "<br>") if not multiline else text


def _md_block(block):
    kind = block[0]
    if kind == "text":
        return _md(block[1])
    if kind == "h":
        return "### %s" % _md(block[1])
    if kind == "list":
        return "\n".join("- %s" % _md(item) for item in block[1]) or "None."
    if kind == "kv":
        return "| | |\n|---|---|\n" + "\n".join("| %s | %s |" % (_md(k), _md(v)) for k, v in block[1])
    if kind == "tree":
        lines = []

        def walk(nodes, depth):
            for node in nodes:
                flags = "".join(" **[%s]**" % _md(flag) for flag in node["flags"])
                lines.append("%s- %s%s: %s" % ("  " * depth, _md(node["label"]), flags, _md(node["code"])))
                walk(node["children"], depth + 1)
        walk(block[1], 0)
        return "\n".join(lines)
    headers, rows = block[1], block[2]
    if not rows:
        return "None."
    out = ["| %s |" % " | ".join(_md(name) for name in headers), "|%s" % ("---|" * len(headers))]
    out += ["| %s |" % " | ".join(_md(value) for value in (row["cells"] if isinstance(row, dict) else row))
            for row in rows]
    return "\n".join(out)


def to_markdown(doc):
    counts = ", ".join("%s %d" % (name, count) for name, count in doc["counts"])
    out = ["# %s" % _md(doc["title"]), "", _md(doc["subtitle"]), "",
           "**Verdict: %s.** %s (%s)" % (_md(doc["verdict"]), _md(doc["verdict_text"]), counts)]
    for title, blocks in doc["sections"]:
        out += ["", "## %s" % _md(title), ""]
        out += [_md_block(block) + "\n" for block in blocks]
    return "\n".join(out).rstrip() + "\n"


# -- writing ------------------------------------------------------------------------------------

def render(fmt, analysis=None, result=None, diff=None, generated=None, case_id=None):
    """The report text. ``diff`` (checkpoint_diff's result) makes a diff report; otherwise the
    report of ``analysis`` with findings.evaluate()'s ``result``. ``generated`` (UTC, RFC 3339;
    now when None) and ``case_id`` go into the HTML and markdown reports' provenance."""
    if fmt not in FORMATS:
        raise CheckpointError("report_format", "must be one of %s, not %r" % (", ".join(FORMATS), fmt))
    if fmt == "json":
        data = {"diff": diff} if diff is not None else {
            "summary": (result or {}).get("summary"), "findings": (result or {}).get("findings"),
            "recovered": (result or {}).get("recovered"), "analysis": analysis}
        return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    doc = diff_document(diff, generated, case_id) if diff is not None else analysis_document(
        analysis or {}, result, generated, case_id)
    return to_html(doc) if fmt == "html" else to_markdown(doc)


# The provenance row as to_html and to_markdown write it.
_GENERATED = re.compile(r"generated at(?:</td><td>| \| )(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
MAX_COMPARED = 64 * 1024 * 1024


def _previous(path):
    """The report already at ``path`` (a regular file, not followed through a link), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    info = os.fstat(fd)
    if not (stat.S_ISREG(info.st_mode) and info.st_size <= MAX_COMPARED):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write(path, fmt="html", analysis=None, result=None, diff=None, check_mode=False, protect=(), case_id=None):
    """Write the report to ``path`` through a Destination (0600, atomic, never through a symlink,
    never over one of the ``protect`` inputs); unchanged content is not rewritten, and a report
    that differs from the one on disk only by its generation time is unchanged.

    Returns ``{path, format, size, sha256, changed}``."""
    data = render(fmt, analysis, result, diff, case_id=case_id).encode("utf-8")
    if os.path.islink(path):
        raise CheckpointError(path, "is a symbolic link; refusing to write a report through it")
    if os.path.isdir(path):
        raise CheckpointError(path, "is a directory; give the report's file name")
    parent, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CheckpointError(path, "its directory %s does not exist" % parent)
    previous = _previous(path) if fmt != "json" else None
    stamp = _GENERATED.search(previous.decode("utf-8", "replace")) if previous else None
    if stamp and render(fmt, analysis, result, diff, stamp.group(1), case_id).encode("utf-8") == previous:
        data = previous
    with Destination(parent, check_mode, protect=protect) as destination:
        written = destination.write(name, data)
    return {"path": path, "format": fmt, "size": written["size"], "sha256": written["sha256"],
            "changed": written["changed"]}
