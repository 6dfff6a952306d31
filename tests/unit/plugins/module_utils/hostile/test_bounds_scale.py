# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): time linear in the input. A pstree of n and 4n processes (each warns that its
images are missing: warning de-duplication was a list scan, 47 s for 10k pids) must take about
4 times as long, not 16; generous bounds so that a loaded machine does not fail them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import hostile_archives as hostile
import hostile_bounds as hb

ANALYZE = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.analyze import run_analyze
params = {{"path": {path!r}, "export": None, "export_dir": None, "include": ["processes", "files"], "checksum": False,
          "report": None, "fail_on_severity": None}}
out = run_analyze(params, False)  # checkpoint_analyze's runner: the analysis and the findings over it
print(json.dumps({{"processes": len(out.result["analysis"]["processes"]), "warnings": len(out.warnings)}}))
"""


@pytest.fixture(scope="module")
def counters_members(archives):
    return hostile.load_members(archives["counters"])


def _run(members, tmp_path, count):
    path = hb.replaced_images(str(tmp_path / ("p%d.tar" % count)), members,
                              {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(count))})
    before = hb.sha256(path)
    value, rss, secs = hb.measure(ANALYZE.format(path=path), timeout=240)
    assert hb.sha256(path) == before
    assert rss <= hb.RSS_LIMIT_MB, (count, rss)
    return value, secs


def test_wide_pstree_is_linear(counters_members, tmp_path):
    small, t_small = _run(counters_members, tmp_path, 5000)
    large, t_large = _run(counters_members, tmp_path, 20000)
    assert (small["processes"], large["processes"]) == (5000, 20000)
    assert large["warnings"] >= 20000 - 1  # every process without its images says so
    # Subtract the fixed cost of a run (interpreter, imports) before comparing.
    base = hb.measure("print(1)")[2]
    assert t_large - base <= 8 * max(t_small - base, 0.2), (t_small, t_large, base)
    assert t_large < 60, t_large


ROOTFS = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
a = analyze({path!r}, include=["rootfs"])
print(json.dumps({{"changed": len(a["rootfs"]["changed"]), "deleted": len(a["rootfs"]["deleted"])}}))
"""


def test_many_rootfs_entries_are_linear(counters_members, tmp_path):
    """20k rootfs entries took 48 s; n and 4n changed files and deleted paths."""
    times = {}
    for count in (10000, 40000):
        path = hb.many_entries_rootfs(str(tmp_path / ("r%d.tar" % count)), counters_members, count)
        before = hb.sha256(path)
        value, rss, times[count] = hb.measure(ROOTFS.format(path=path), timeout=240)
        assert value == {"changed": count, "deleted": count}
        assert rss <= hb.RSS_LIMIT_MB and hb.sha256(path) == before, rss
    base = hb.measure("print(1)")[2]
    assert times[40000] - base <= 8 * max(times[10000] - base, 0.2), (times, base)


def test_million_deleted_paths_are_capped(counters_members, tmp_path):
    """deleted.files with 1.2M paths (259 MB, 77 s): reported up to rootfs.MAX_ENTRIES, with a warning."""
    path = hb.many_entries_rootfs(str(tmp_path / "r.tar"), counters_members, 10, deleted_count=800000)
    code = ROOTFS.replace('a["rootfs"]["deleted"])}', 'a["rootfs"]["deleted"]), "warnings": a["warnings"]}')
    value, rss, secs = hb.measure(code.format(path=path), timeout=240)
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert value["deleted"] == 200000 and any("800000 paths" in w for w in value["warnings"]), value
    assert secs < 60
