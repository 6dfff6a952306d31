# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident reports of one checkpoint (or of the diff of two): HTML, markdown or JSON.

Everything in an archive is attacker-controlled (command lines, paths, file contents), so every
value is escaped for the format it lands in: HTML-escaped in HTML, and in markdown too (markdown
viewers render inline HTML). The HTML is one self-contained file: inline CSS, no script, no
network resource, and a Content-Security-Policy that forbids loading any. Long command lines and
paths wrap, and tables have fixed layouts, so the page reads without scrolling sideways.

Reports are written 0600 to exactly the path given, never following a symlink there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import json
import os
import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape

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


def _findings_table(findings):
    rows = []
    for item in findings or []:
        about = [item.get("title"), "%s" % item.get("id")]
        if item.get("attack"):
            about.append("ATT&CK %s%s" % (item["attack"], " (%s)" % item["tactic"] if item.get("tactic") else ""))
        if item.get("pid") is not None:
            about.append("pid %s" % item["pid"])
        rows.append([cell(item.get("severity"), "sev"), cell("\n".join(_text(part) for part in about), "lines"),
                     cell(item.get("evidence"), "pre")])
    return ("table", ["Severity", "Finding", "Evidence"], rows, (11, 30, 59))


MAX_TREE_DEPTH = 64


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
        return {"label": label, "code": proc.get("cmdline") or _text(proc.get("argv")), "detail": "exe %s, cwd %s" % (
            _text(proc.get("exe")), _text(proc.get("cwd"))), "flags": flags, "children": children}
    roots = [node(proc, 0, ()) for proc in by_parent.get(None, [])]
    for proc in processes:  # what no root reaches: a ppid cycle, or below the depth shown
        if id(proc) not in shown:
            roots.append(node(proc, 0, ["ppid %s: in a parent cycle or below depth %d" % (
                _text(proc.get("ppid")), MAX_TREE_DEPTH)]))
    return ("tree", roots)


def _network(processes):
    rows = []
    for proc in processes:
        for sock in proc.get("sockets") or []:
            local = sock.get("path") if sock.get("family") == "unix" else "%s:%s" % (
                _text(sock.get("local_address")), _text(sock.get("local_port")))
            remote = sock.get("peer_path") if sock.get("family") == "unix" else (
                "%s:%s" % (_text(sock.get("remote_address")), _text(sock.get("remote_port")))
                if sock.get("remote_port") else "-")
            # An IPv6 socket talking to IPv4 peers shows IPv4 addresses: name the family they are in.
            family = "ipv4" if sock.get("ipv4_mapped") else sock.get("family")
            rows.append([proc.get("pid"), proc.get("comm"), sock.get("fd"),
                         "%s %s" % (_text(family), _text(sock.get("protocol") or sock.get("type"))),
                         sock.get("state"), local, remote])
    return ("table", ["pid", "process", "fd", "kind", "state", "local", "remote"], rows, (7, 13, 6, 14, 14, 23, 23))


def _files(processes):
    rows = []
    for proc in processes:
        for entry in proc.get("files") or []:
            flags = "deleted" if entry.get("deleted") else ""
            if entry.get("deleted") and entry.get("recoverable"):
                flags += ", recovered %s" % _size(entry.get("size"))
            rows.append([proc.get("pid"), proc.get("comm"), entry.get("fd"), entry.get("type"),
                         cell(entry.get("path"), "code"), cell(flags, "flag" if flags else None)])
    return ("table", ["pid", "process", "fd", "type", "path", "note"], rows, (7, 13, 7, 10, 45, 18))


def _rootfs_table(entries):
    rows = [[cell(entry.get("path"), "code"), entry.get("type"), _size(entry.get("size")), entry.get("mode"),
             entry.get("mtime")] for entry in entries or []]
    return ("table", ["path", "type", "size", "mode", "modified"], rows, (48, 10, 12, 10, 20))


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


def analysis_document(analysis, result):
    """The report of one checkpoint: ``analysis`` and findings.evaluate()'s ``result``."""
    result = result or {}
    container = analysis.get("container") or {}
    # What the analysis hashed (checksum: true) or nothing: rendering never reads the evidence again.
    sha256 = (container.get("archive") or {}).get("sha256") or "not computed (checksum: false)"
    summary = result.get("summary") or {"verdict": "clean", "text": "No findings evaluated."}
    processes = analysis.get("processes") or []
    rootfs = analysis.get("rootfs") or {}
    sections = [
        ("Findings", [_findings_table(result.get("findings"))] if result.get("findings")
         else [("text", "No findings.")]),
        ("Process tree", [_process_tree(processes)] if processes else [("text", "No process data.")]),
        ("Network", [_network(processes)]),
        ("Open files", [_files(processes)]),
        ("Recovered deleted files", [("table", ["path", "size", "sha256", "content (head)"],
                                      [[cell(item["path"], "code"), _size(item.get("size")), cell(item.get("sha256"), "code"),
                                        cell(item.get("head"), "pre")] for item in result.get("recovered") or []],
                                      (22, 10, 25, 43))] if result.get("recovered") else [("text", "None.")]),
        ("File system changes", [_rootfs_table(rootfs.get("changed")), ("h", "Deleted"),
                                 ("list", rootfs.get("deleted") or [])]),
        ("Container", [_container_rows(container, sha256)]),
    ]
    warnings = list(analysis.get("warnings") or []) + list(result.get("warnings") or [])
    if warnings:
        sections.append(("Warnings", [("list", warnings)]))
    name = container.get("container") or container.get("name") or "checkpoint"
    return {"title": "Checkpoint report: %s" % name,
            "subtitle": "%s, checkpointed %s, archive sha256 %s" % (
                _text(container.get("image")), _text(container.get("checkpointed")), _text(sha256)),
            "verdict": summary.get("verdict"), "verdict_text": summary.get("text"),
            "counts": _severity_counts(summary), "sections": sections}


def diff_document(diff):
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
    if diff.get("warnings"):
        sections.append(("Warnings", [("list", diff["warnings"])]))
    name = (diff.get("container") or {}).get("container") or "checkpoint"
    return {"title": "Checkpoint diff: %s" % name,
            "subtitle": "%s -> %s" % (_text(before.get("checkpointed")), _text(after.get("checkpointed"))),
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
    else:
        inner = _h(text)
    return "<%s>%s</%s>" % (tag, inner, tag)


def _html_tree(nodes):
    out = []
    for node in nodes:
        flags = "".join('<span class="flag">%s</span>' % _h(flag) for flag in node["flags"])
        out.append('<li><b>%s</b>%s<br><code>%s</code><br><span class="muted">%s</span>%s</li>' % (
            _h(node["label"]), flags, _h(node["code"]), _h(node["detail"]),
            "<ul>%s</ul>" % _html_tree(node["children"]) if node["children"] else ""))
    return "".join(out)


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
    body = "".join("<tr>%s</tr>" % "".join(_html_cell(value) for value in row) for row in rows)
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
    text = html.escape(_text(value.get("text") if isinstance(value, dict) else value), quote=False)
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
    out += ["| %s |" % " | ".join(_md(value) for value in row) for row in rows]
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

def render(fmt, analysis=None, result=None, diff=None):
    """The report text. ``diff`` (checkpoint_diff's result) makes a diff report; otherwise the
    report of ``analysis`` with findings.evaluate()'s ``result``."""
    if fmt not in FORMATS:
        raise CheckpointError("report_format", "must be one of %s, not %r" % (", ".join(FORMATS), fmt))
    if fmt == "json":
        data = {"diff": diff} if diff is not None else {
            "summary": (result or {}).get("summary"), "findings": (result or {}).get("findings"),
            "recovered": (result or {}).get("recovered"), "analysis": analysis}
        return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    doc = diff_document(diff) if diff is not None else analysis_document(analysis or {}, result)
    return to_html(doc) if fmt == "html" else to_markdown(doc)


def write(path, fmt="html", analysis=None, result=None, diff=None, check_mode=False, protect=()):
    """Write the report to ``path`` through a Destination (0600, atomic, never through a symlink,
    never over one of the ``protect`` inputs); unchanged content is not rewritten.

    Returns ``{path, format, size, sha256, changed}``."""
    data = render(fmt, analysis, result, diff).encode("utf-8")
    if os.path.islink(path):
        raise CheckpointError(path, "is a symbolic link; refusing to write a report through it")
    if os.path.isdir(path):
        raise CheckpointError(path, "is a directory; give the report's file name")
    parent, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CheckpointError(path, "its directory %s does not exist" % parent)
    with Destination(parent, check_mode, protect=protect) as destination:
        written = destination.write(name, data)
    return {"path": path, "format": fmt, "size": written["size"], "sha256": written["sha256"],
            "changed": written["changed"]}
