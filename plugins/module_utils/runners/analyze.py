# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_analyze and checkpoint_diff: analysis, findings, report, severity gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import EXPORTS, analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.diff import compare
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.engine import evaluate
from ansible_collections.forensic.checkpoint.plugins.module_utils.report import document as report_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import (
    Outcome,
    findings_options,
    severity_gate,
)


def run_analyze(params, check_mode):
    path = params["path"]
    export = params["export"] if params["export"] is not None else (list(EXPORTS) if params["export_dir"] else [])
    analysis = analyze(path, include=params["include"], redact_secrets=params["redact_secrets"],
                       export_dir=params["export_dir"], export=export, check_mode=check_mode,
                       checksum=params["checksum"])
    result = evaluate(analysis, path, findings_options(params))
    analysis["findings"] = result["findings"]
    analysis["findings_summary"] = result["summary"]
    written = None
    if params.get("report"):
        written = report_mod.write(params["report"], params.get("report_format") or "html", analysis, result,
                                   check_mode=check_mode)
    failure = severity_gate(result["findings"], params.get("fail_on_severity"))
    changed = any(item["changed"] for item in analysis.get("exported", [])) or bool(written and written["changed"])
    return Outcome(dict(changed=changed, analysis=analysis, report=written, ansible_facts={"checkpoint_analysis": analysis}),
                   ["%s: %s" % (path, warning) for warning in analysis["warnings"] + result["warnings"]],
                   failure and "%s: %s" % (path, failure))


def run_diff(params, check_mode):
    options = findings_options(params)
    sides = {}
    for side in ("before", "after"):
        analysis = analyze(params[side], redact_secrets=params["redact_secrets"], checksum=params["checksum"])
        sides[side] = (analysis, evaluate(analysis, params[side], options))
    (before, before_findings), (after, after_findings) = sides["before"], sides["after"]
    result = compare(before, after, before_findings, after_findings)
    written = None
    if params["report"]:
        written = report_mod.write(params["report"], params["report_format"], diff=result, check_mode=check_mode)
    output = dict(changed=bool(written and written["changed"]), checkpoint_diff=result, report=written)
    if params["checksum"]:
        output["sha256"] = dict((side, sides[side][0]["container"]["archive"]["sha256"]) for side in ("before", "after"))
    # Every warning of both analyses and both findings passes, each naming its archive.
    warnings = ["%s: %s" % (params[side], warning) for side in ("before", "after")
                for warning in sides[side][0]["warnings"] + sides[side][1]["warnings"]]
    return Outcome(output, warnings + result["warnings"],
                   severity_gate(result["findings"]["new"], params["fail_on_severity"], "new finding(s)"))
