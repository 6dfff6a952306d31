# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): user regexes with catastrophic backtracking in checkpoint_memory's ``regex``
(``(\\w+\\s?)+$`` hung over 300 s on lookup-compromised's memory). The search runs under
multiscan's time budgets (memory/multiscan.py: TIME_BUDGET, 10 s, per re call, and that plus
RE_SECONDS_PER_MIB a MiB scanned per pattern over the whole search): it completes, or fails with one
line naming the pattern; run through Ansible. ``(.*a){12}`` is slow on every stretch rather than
stuck on one: 72 s under load with a per-call budget alone."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import hostile_bounds as hb

SHAPES = ["(\\w+\\s?)+$", "([a-zA-Z0-9_./-]+ ?)+$", "(a+)+$", "(.*a){12}"]


@pytest.mark.parametrize("regex", SHAPES)
def test_backtracking_regex_is_bounded(archives, regex):
    path = archives["lookup"]
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_memory", {"path": path, "regex": regex, "max_matches": 1000},
                                            timeout=120)
    if task.get("failed"):
        msg = task["msg"]
        assert "\n" not in msg and repr(regex) in msg and "took over" in msg, msg  # named as typed (repr)
    else:
        assert isinstance(task["matches"], list)
    assert secs < 60, secs
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert "Traceback" not in output and hb.sha256(path) == before
