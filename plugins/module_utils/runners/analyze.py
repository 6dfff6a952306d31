# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_analyze and checkpoint_diff: analysis, findings, report, severity gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import EXPORTS, SECTIONS, AnalysisPlan, open_checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.diff import compare
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.engine import FindingsPass
from ansible_collections.forensic.checkpoint.plugins.module_utils.report import document as report_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.redact import scrub_all
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import (
    Outcome,
    findings_options,
    severity_gate,
)


def analyze_with_findings(path, options, checksum=False, include=None, export_dir=None, export=(), check_mode=False,
                          export_limit=None):
    """(analysis, findings result) of ``path``: both ride one Checkpoint, so a compressed archive
    is streamed once (twice when its pages come before their pagemaps; see criu/checkpoint.py)."""
    plan = AnalysisPlan(path, include or list(SECTIONS), options.get("redact_secrets", True), export_dir, export,
                        check_mode, export_limit)
    pending = FindingsPass(dict(options, scan_memory=options.get("scan_memory", True) and plan.has_processes))
    if plan.rootfs is not None:  # one read of rootfs-diff.tar serves both (a stream cannot be read twice)
        plan.rootfs.file_hooks.append(pending.rootfs_file)
        pending.visitors = []
    with open_checkpoint(path, [plan, pending], checksum) as checkpoint:
        analysis = plan.run(checkpoint)
        result = pending.evaluate(analysis, checkpoint)
    if options.get("redact_secrets", True):  # the final pass: any secret seen anywhere, redacted everywhere
        analysis, result = scrub_all([analysis, result], pending.secrets + plan.redactor.secrets)
    return analysis, result


def run_analyze(params, check_mode):
    path = params["path"]
    export = params["export"] if params["export"] is not None else (list(EXPORTS) if params["export_dir"] else [])
    analysis, result = analyze_with_findings(path, findings_options(params), params["checksum"], params["include"],
                                             params["export_dir"], export, check_mode, params.get("export_limit"))
    analysis["findings"] = result["findings"]
    analysis["findings_summary"] = result["summary"]
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
    sides = {}
    for side in ("before", "after"):
        sides[side] = analyze_with_findings(params[side], options, params["checksum"])
    (before, before_findings), (after, after_findings) = sides["before"], sides["after"]
    result = compare(before, after, before_findings, after_findings)
    written = None
    if params["report"]:
        written = report_mod.write(params["report"], params["report_format"], diff=result, check_mode=check_mode,
                                   protect=[params["before"], params["after"]], case_id=params.get("case_id"))
    output = dict(changed=bool(written and written["changed"]), checkpoint_diff=result, report=written)
    if params["checksum"]:
        output["sha256"] = dict((side, sides[side][0]["container"]["archive"]["sha256"]) for side in ("before", "after"))
    # Every warning of both analyses and both findings passes, each naming its archive.
    warnings = ["%s: %s" % (params[side], warning) for side in ("before", "after")
                for warning in sides[side][0]["warnings"] + sides[side][1]["warnings"]]
    return Outcome(output, warnings + result["warnings"],
                   severity_gate(result["findings"]["new"], params["fail_on_severity"], "new finding(s)"))
