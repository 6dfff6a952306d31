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
import hostile_round3 as h3

ANALYZE = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.analyze import run_analyze
params = {{"path": {path!r}, "export": None, "export_dir": None, "include": ["processes", "files"], "checksum": False,
          "report": None, "fail_on_severity": None}}
out = run_analyze(params, False)  # checkpoint_analyze's runner: the analysis and the findings over it
print(json.dumps({{"processes": len(out.result["analysis"]["processes"]), "warnings": len(out.warnings),
                  "omitted": out.result["analysis"]["omitted"]["warnings"]}}))
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
    # Every process without its images says so: 100 shown, the rest counted.
    assert large["warnings"] <= 110 and large["warnings"] + large["omitted"] >= 20000 - 1
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


def test_process_facts_are_capped_through_ansible(counters_members, tmp_path):
    """A 30k-process tree through ``ansible -m``: the result lists max_processes of them (the
    whole list made a result of 213 MB and 1.1 GB RSS at 50k), says what it left out, and the
    findings still see every process (one planted as a shell under netcat, last in the tree)."""
    count = 30000
    path = hb.replaced_images(str(tmp_path / "p30k.tar"), counters_members,
                              {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(count))})
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path, "include": ["processes"],
                                                                   "max_processes": 500})
    assert not task.get("failed"), task.get("msg")
    analysis = task["analysis"]
    assert len(analysis["processes"]) == 500 and analysis["omitted"]["processes"] == count - 500
    assert any("first 500 of %d processes" % count in warning for warning in task["warnings"])
    root = analysis["processes"][0]  # the parent of every other: its children list max_processes pids too
    own = sum(1 for pid in range(2, count + 1) if pid % 7)  # wide_pstree: every 7th pid is its predecessor's child
    assert len(root["children"]) == 500 and analysis["omitted"]["children"] == own - 500
    assert len(task["warnings"]) <= 110 and analysis["omitted"]["warnings"] > 0
    assert len(output) < 20 << 20, len(output)
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert "Traceback" not in output and hb.sha256(path) == before


def test_rootfs_lists_are_capped_through_ansible(counters_members, tmp_path):
    """20k changed files and 300k deleted paths: the result lists max_rootfs_entries of each (the
    whole lists made a 48 MB result and 297 MB RSS), counts the rest, and the findings see all."""
    path = hb.many_entries_rootfs(str(tmp_path / "rootfs.tar"), counters_members, 20000, deleted_count=300000)
    before = hb.sha256(path)
    task, output, rss, _secs = hb.run_module("checkpoint_analyze", {"path": path, "include": ["rootfs"],
                                                                    "max_rootfs_entries": 5000})
    assert not task.get("failed"), task.get("msg")
    rootfs, omitted = task["analysis"]["rootfs"], task["analysis"]["omitted"]
    assert len(rootfs["changed"]) == len(rootfs["deleted"]) == 5000
    # deleted.files itself keeps 200k at most, and counts the rest
    assert omitted["rootfs"] == (20000 - 5000) + (300000 - 5000)
    assert any("left out of analysis.rootfs" in warning for warning in task["warnings"])
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert "Traceback" not in output and hb.sha256(path) == before


def test_hundred_thousand_processes_stay_under_the_bound(counters_members, tmp_path):
    """100k pids through ``ansible -m`` with its defaults, findings on (50k took 302 MB when the
    findings copied every process and each image entry had its own protobuf arena; 100k 348 MB and
    ~45 s with 400k per-pid warnings kept, a second set of pstree entries, empty lists per
    process): under 200 MB; the analysis comes back with its processes as the analysis made them
    (the findings lend, not keep, their derived fields); the warnings that differ only in their pid
    are listed 10 of a kind, the rest counted in one summary each and in omitted.warnings. The tree
    reads criu/tree.py's MAX_TASKS of them (test_bounds_tree.py), and the stats count all."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import MAX_TASKS
    count = 100000
    path = hb.replaced_images(str(tmp_path / "p100k.tar"), counters_members,
                              {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(count))})
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_analyze", {"path": path})
    assert not task.get("failed"), task.get("msg")
    analysis = task["analysis"]
    assert analysis["omitted"]["processes"] == count - len(analysis["processes"]) > 0
    assert not any(key in proc for proc in analysis["processes"] for key in ("program", "tool", "parent", "command"))
    summaries = [warning for warning in task["warnings"] if "more like it with other numbers" in warning]
    assert summaries and any("core-" in warning for warning in summaries), task["warnings"]
    assert len(task["warnings"]) <= 110 and analysis["omitted"]["warnings"] >= 4 * (MAX_TASKS - 1) - 4 * 10 - 4
    assert analysis["stats"]["processes"] == count
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert "Traceback" not in output and hb.sha256(path) == before and secs < 240


def test_thread_ids_are_capped_through_ansible(counters_members, tmp_path):
    """One pstree entry listing 400k threads (2 MB of varints, 3.5 MB zstd archive): the result lists
    max_processes thread ids a process (all of them made a 33 MB result and 189 MB RSS at 300k),
    counts the rest, and the stats count every thread."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
    count = 400000
    image = criu_images.decode("checkpoint/pstree.img", hostile.content(counters_members, "checkpoint/pstree.img"))
    own = list(list(image.entries)[0].threads)  # pid 1's threads as the fixture lists them
    path = h3.many_threads(str(tmp_path / "threads.tar"), counters_members, count)
    before = hb.sha256(path)
    task, output, rss, _secs = hb.run_module("checkpoint_analyze", {"path": path})
    assert not task.get("failed"), task.get("msg")
    analysis = task["analysis"]
    threads = analysis["processes"][0]["threads"]
    listed = len(own) + count
    assert len(threads) == 1000 and threads[0] == (own or [1 << 20])[0] and analysis["omitted"]["threads"] == listed - 1000
    assert analysis["stats"]["threads"] >= listed
    assert any("thread ids" in warning and "left out" in warning for warning in task["warnings"])
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert len(output) < 5 << 20, len(output)
    assert "Traceback" not in output and hb.sha256(path) == before
