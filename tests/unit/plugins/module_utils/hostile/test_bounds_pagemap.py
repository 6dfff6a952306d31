# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): a pagemap of 1M one-page entries in the parent checkpoint (a few MB of image; 1.2 GB
RSS when each entry was a protobuf message with its own arena and each run a Python object). The
engine decodes the entries in one parse and packs the runs in arrays (memory/pagemap.py Runs):
memory describe counts every page, in a child process under the 200 MB bound."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

COUNT = 1000000

DESCRIBE = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.queries import MemoryQueries
queries = MemoryQueries({path!r}, max_vmas=10)
result = queries.describe()
queries.close()
first = result["processes"][0]
print(json.dumps({{"parent": first["parent_size"], "warnings": result["warnings"]}}))
"""


def test_million_parent_entries_are_packed(archives, tmp_path):
    members = hostile.load_members(archives["counters"])
    path = h3.in_parent_pagemap(str(tmp_path / "pm.tar"), members, COUNT)
    before = hb.sha256(path)
    value, rss, secs = hb.measure(DESCRIBE.format(path=path), timeout=240)
    assert value["parent"] == COUNT * h3.PAGE  # every entry counted
    assert any("in the parent checkpoint" in warning for warning in value["warnings"])
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert hb.sha256(path) == before and secs < 120
