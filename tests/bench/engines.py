# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine work each module does for a task with only ``path`` (and the query) set, run by
common.engine in a child process; each returns a small JSON summary to compare with baselines."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import common
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze as _analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings.engine import for_module
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import queries


def analyze(path):
    """checkpoint_analyze's main(): the analysis, then the findings pass (on by default)."""
    params = dict(common.module_defaults("checkpoint_analyze"), path=path)
    analysis = _analyze(path, include=params["include"], redact_secrets=params["redact_secrets"],
                        checksum=params["checksum"])
    result, _written, _failure = for_module(analysis, path, params)
    memory = [item for item in result["findings"] if item.get("source") == "memory"]
    return {"pids": sorted(proc["pid"] for proc in analysis["processes"]),
            "findings": sorted(set(item["id"] for item in result["findings"])),
            "memory_findings": len(memory),
            "memory_occurrences": sum(item.get("occurrences", 1) for item in memory)}


def memory_search(path, pattern, pid=None):
    """checkpoint_memory's search with its documented defaults (context, max_matches)."""
    params = dict(common.module_defaults("checkpoint_memory"), path=path, pattern=pattern, pid=pid)
    result = queries.run(params)
    return {"matches": len(result["matches"]), "addresses": [match["address"] for match in result["matches"]],
            "truncated": result["truncated"]}
