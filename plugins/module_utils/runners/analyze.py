# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_analyze and checkpoint_diff: analysis, findings, report, severity gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import functools

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import (
    EXPORTS,
    SECTIONS,
    AnalysisPlan,
    materialize,
    open_checkpoint,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.diff import Side, compare
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.engine import FindingsPass
from ansible_collections.forensic.checkpoint.plugins.module_utils.report import document as report_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import scrub_all
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import (
    Outcome,
    cap_warnings,
    findings_options,
    severity_gate,
)


@contextlib.contextmanager
def opened(path, options, checksum=False, include=None, export_dir=None, export=(), check_mode=False,
           export_limit=None, let_go=False):
    """(analysis, findings result, secrets seen, reread) of ``path`` while its Checkpoint is open, so
    that its open-file records (analysis/files.py FileRows) can still be made, and its processes
    (``reread``: AnalysisPlan.reread of a list of tree positions). Both ride one Checkpoint, so a
    compressed archive is streamed once (twice when its pages come before their pagemaps; see
    criu/checkpoint.py). ``let_go``: its decoded images are let go once the findings are made, and
    decoded again for the few records made later (checkpoint_diff holds this archive open while it
    analyses the other)."""
    plan = AnalysisPlan(path, include or list(SECTIONS), options.get("redact_secrets", True), export_dir, export,
                        check_mode, export_limit)
    pending = FindingsPass(dict(options, scan_memory=options.get("scan_memory", True) and plan.has_processes))
    if plan.rootfs is not None:  # one read of rootfs-diff.tar serves both (a stream cannot be read twice)
        plan.rootfs.file_hooks.append(pending.rootfs_file)
        pending.visitors = []
    with open_checkpoint(path, [plan, pending], checksum) as checkpoint:
        analysis = plan.run(checkpoint)
        result = pending.evaluate(analysis, checkpoint)
        if let_go:
            ProcessTree.of(checkpoint.archive).let_go()
        yield analysis, result, pending.secrets + plan.redactor.secrets, functools.partial(plan.reread, checkpoint)


def scrubbed(value, secrets, options):
    """The final pass over ``value``: any secret seen anywhere (or marked), redacted everywhere."""
    redact, hidden = options.get("redact_secrets", True), options.get("secret_values") or []
    if redact or hidden:
        value = scrub_all(value, (secrets if redact else []) + hidden, shapes=redact)
    return value


def analyze_with_findings(path, options, checksum=False, include=None, export_dir=None, export=(), check_mode=False,
                          export_limit=None, caps=None):
    """(analysis, findings result) of ``path`` (see opened). ``caps``: capped's arguments; open-file
    records are made while the archive is open (only those listed, with caps; all of them without)."""
    with opened(path, options, checksum, include, export_dir, export, check_mode, export_limit) as found:
        analysis, result, secrets = found[:3]
        if caps is not None:
            analysis = capped(analysis, *caps)
        else:
            materialize(analysis)
    analysis, result = scrubbed([analysis, result], secrets, options)
    return analysis, result


def capped(analysis, max_processes=None, max_files=None, max_rootfs=None, max_total_files=None):
    """What of ``analysis`` is returned: at most ``max_processes`` processes (tree order), each with at
    most ``max_files`` files and ``max_total_files`` files in all (the first processes' first), and
    as many sockets by the same caps, at most
    ``max_rootfs`` changed and deleted rootfs entries each, and MAX_WARNINGS warnings.
    ``analysis["omitted"]`` counts what was left out (with what the analysis engine already left
    out), and a warning says it. Findings were computed on everything: a 50k-process tree or 300k
    open files would otherwise make a result of hundreds of MB for Ansible to carry (1.1 GB RSS)."""
    before = analysis.get("omitted") or {}
    omitted = {"processes": 0, "threads": 0, "children": 0, "files": 0, "sockets": 0, "rootfs": before.get("rootfs", 0),
               "warnings": before.get("warnings", 0), "mounts": before.get("mounts", 0)}
    processes = analysis.get("processes")
    if max_processes and processes and len(processes) > max_processes:
        omitted["processes"] = len(processes) - max_processes
        analysis["processes"] = processes = processes[:max_processes]
    cut_processes = omitted["processes"]
    for proc in processes if max_processes and processes else ():
        for key in ("threads", "children"):  # ids, max_processes of each a process: a forged pstree lists millions
            ids = proc.get(key)
            if ids and len(ids) > max_processes:
                omitted[key] += len(ids) - max_processes
                proc[key] = ids[:max_processes]
    for key in ("files", "sockets"):  # sockets are open files too: the same caps, counted apart
        room = max_total_files or float("inf")
        for proc in processes or []:
            rows = proc.get(key)
            if not rows:
                continue
            keep = min(len(rows), max_files or len(rows), room)
            room -= keep
            omitted[key] += len(rows) - keep
            proc[key] = rows[:keep]  # a list: of FileRows/SocketRows, only these records are made
    rootfs = analysis.get("rootfs") or {}
    cut = 0
    for key in ("changed", "deleted"):
        entries = rootfs.get(key)
        if max_rootfs and entries and len(entries) > max_rootfs:
            cut += len(entries) - max_rootfs
            rootfs[key] = entries[:max_rootfs]
    omitted["rootfs"] += cut
    notes = []
    if cut:
        notes.append("%d entries left out of analysis.rootfs.changed/deleted (max_rootfs_entries: %d each); findings "
                     "cover all" % (cut, max_rootfs))
    if cut_processes:
        notes.append("analysis.processes lists the first %d of %d processes (max_processes); findings cover all"
                     % (max_processes, max_processes + cut_processes))
    if omitted["threads"] or omitted["children"]:
        notes.append("%d thread ids and %d child pids left out of analysis.processes[].threads/children (max_processes "
                     "a process); findings cover all" % (omitted["threads"], omitted["children"]))
    for key in ("processes", "threads"):  # the tasks and thread ids the process tree did not read (criu/tree.py)
        omitted[key] += before.get(key, 0)
    for key, what in (("files", "open files"), ("sockets", "sockets")):
        if omitted[key]:
            notes.append("%d %s left out of analysis.processes[].%s (max_files: %s a process, max_total_files: "
                         "%s in all); findings cover all"
                         % (omitted[key], what, key, max_files or "no limit", max_total_files or "no limit"))
    kept, more = cap_warnings(analysis.get("warnings") or [])
    omitted["warnings"] += more
    analysis["warnings"] = notes + kept
    analysis["omitted"] = omitted
    return analysis


def run_analyze(params, check_mode):
    path = params["path"]
    export = params["export"] if params["export"] is not None else (list(EXPORTS) if params["export_dir"] else [])
    caps = (params.get("max_processes"), params.get("max_files"), params.get("max_rootfs_entries"),
            params.get("max_total_files"))
    analysis, result = analyze_with_findings(path, findings_options(params), params["checksum"], params["include"],
                                             params["export_dir"], export, check_mode, params.get("export_limit"), caps)
    result["warnings"] = cap_warnings(result["warnings"])[0]
    analysis["findings"] = result["findings"]
    analysis["findings_summary"] = result["summary"]
    found = result["omitted"]
    analysis["omitted"].update(findings=found["findings"], rule_open_files=found["open_files"],
                               rule_connections=found["connections"], rule_process_sockets=found["process_sockets"])
    written = None
    if params.get("report"):
        written = report_mod.write(params["report"], params.get("report_format") or "html", analysis, result,
                                   check_mode=check_mode, protect=[path], case_id=params.get("case_id"))
    failure = severity_gate(result["findings"], params.get("fail_on_severity"))
    changed = any(item["changed"] for item in analysis.get("exported", [])) or bool(written and written["changed"])
    return Outcome(dict(changed=changed, analysis=analysis, report=written, ansible_facts={"checkpoint_analysis": analysis}),
                   ["%s: %s" % (path, warning) for warning in analysis["warnings"] + result["warnings"]],
                   failure and "%s: %s" % (path, failure))


def run_diff(params, check_mode):
    options = findings_options(params)
    sides, secrets = {}, []
    # Both archives open while they are compared: their processes, open files and sockets are
    # compared by digests (analysis/diff.py Side), and only those the result lists are made again.
    # Each side's processes go once digested, before the other side is analysed: one side's
    # processes held at a time (100k pids: 90 MB each).
    # What leaves is scrubbed once, of both sides' secrets: not every record of each side first.
    with contextlib.ExitStack() as stack:
        for side in ("before", "after"):
            analysis, found, seen, reread = stack.enter_context(opened(params[side], options, params["checksum"],
                                                                       let_go=True))
            sides[side] = (Side(analysis, reread), found)
            analysis["processes"] = None
            secrets.extend(seen)
        (before, before_findings), (after, after_findings) = sides["before"], sides["after"]
        result = compare(before, after, before_findings, after_findings)
    # Every warning of both analyses and both findings passes, each naming its archive.
    warnings = ["%s: %s" % (params[side], warning) for side in ("before", "after")
                for warning in sides[side][0].analysis["warnings"] + sides[side][1]["warnings"]]
    result, warnings = scrubbed([result, warnings], secrets, options)
    written = None
    if params["report"]:
        written = report_mod.write(params["report"], params["report_format"], diff=result, check_mode=check_mode,
                                   protect=[params["before"], params["after"]], case_id=params.get("case_id"))
    output = dict(changed=bool(written and written["changed"]), checkpoint_diff=result, report=written)
    if params["checksum"]:
        output["sha256"] = dict((side, sides[side][0].analysis["container"]["archive"]["sha256"])
                                for side in ("before", "after"))
    return Outcome(output, warnings + result["warnings"],
                   severity_gate(result["findings"]["new"], params["fail_on_severity"], "new finding(s)"))
