# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): checkpoint_memory options inside their documented limits that returned hundreds
of MB (hex "00" with context 4096 and 100k matches: 468 MB; strings of length 1, a million of
them: 951 MB; regex (?s).{1,65536}: 356 MB). Results are capped by the bytes they return
(memory/scan.py RESULT_BUDGET), not only by count: run through Ansible, whose controller parses
what the module returns; the peak RSS of every process of the run stays <= 200 MB, on every
ansible-core release the collection supports (2.16 peaked at 210 MB on strings of length 1 when a
record counted 256 bytes; it is now counted at what it costs as Python objects, STRING_OVERHEAD)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

import hostile_bounds as hb

CASES = {
    "hex-zeros": {"hex": "00", "context": 4096, "max_matches": 100000},
    "strings-1": {"strings": {"min_length": 1, "max_strings": 1000000}},
    "regex-64k": {"regex": "(?s).{1,65536}", "max_matches": 100000, "context": 4096},
    "regex-dot": {"regex": "(?s).", "max_matches": 100000, "context": 4096},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_option_abuse_is_capped_by_returned_bytes(archives, case):
    path = archives["counters"]
    before = hb.sha256(path)
    args = dict(CASES[case], path=path)
    task, output, rss, _secs = hb.run_module("checkpoint_memory", args)
    assert not task.get("failed"), task.get("msg")
    assert task["truncated"] is True
    items = task.get("matches") or task.get("strings")
    assert items and len(json.dumps(items)) < 48 << 20
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert "Traceback" not in output and hb.sha256(path) == before
