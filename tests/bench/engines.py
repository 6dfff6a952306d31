# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine work each module does for a task with only ``path`` (and the query) set, run by
common.engine in a child process: each function prepares the parameters and returns the work to
time, which returns a small JSON summary to compare with baselines."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import common
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import analyze as analyze_runner
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import memory as memory_runner


def analyze(path):
    """checkpoint_analyze's main(): the analysis, then the findings pass (on by default)."""
    # Options without a default (and the findings doc fragment's) are None, as Ansible passes them.
    params = dict(dict.fromkeys(("export_dir", "export", "report", "report_format", "fail_on_severity", "rules",
                                 "indicators", "yara_rules")), **common.module_defaults("checkpoint_analyze"))
    params["path"] = path

    def work():
        analysis = analyze_runner.run_analyze(params, False).result["analysis"]
        memory = [item for item in analysis["findings"] if item.get("source") == "memory"]
        return {"pids": sorted(proc["pid"] for proc in analysis["processes"]),
                "findings": sorted(set(item["id"] for item in analysis["findings"])),
                "memory_findings": len(memory),
                "memory_occurrences": sum(item.get("occurrences", 1) for item in memory)}
    return work


def memory_search(path, pattern, pid=None):
    """checkpoint_memory's search with its documented defaults (context, max_matches)."""
    params = dict(common.module_defaults("checkpoint_memory"), path=path, pattern=pattern, pid=pid)

    def work():
        result = memory_runner.query(params)
        return {"matches": len(result["matches"]), "addresses": [match["address"] for match in result["matches"]],
                "truncated": result["truncated"]}
    return work
