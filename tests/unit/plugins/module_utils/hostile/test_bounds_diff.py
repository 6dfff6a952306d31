# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: checkpoint_diff over two checkpoints each holding hundreds of thousands of open files
(300k a side: 768 MB and 84 s, every row of both sides built and keyed). Every fd is compared by
digests made a record at a time with both archives open; only the rows listed are made again.
300k a side (1,500 more after) measured through Ansible: 156 MB, 49.5 s; 100k here keeps it short.
Processes likewise: compared by pid with digests, each side's let go before the other is analysed
(100k pids a side: 321 MB before, then 205 MB, now 99 MB with the tree read up to its 32,768 tasks a
side, test_bounds_tree.py; 60k: 218 MB before, then 165 MB)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import diff


def test_100k_fds_a_side_through_ansible(archives, tmp_path):
    """after holds 1,500 more open files than before: opened lists MAX_ROWS of them from the first
    new fd on, in fd order, the rest counted and said; nothing is closed or changed (cwd, root and
    exe, listed after every fd, are not mistaken for closed files)."""
    count, more = 100000, 1500
    members = hostile.load_members(archives["counters"])
    before = h3.many_fds(str(tmp_path / "before.tar"), members, count)
    after = h3.many_fds(str(tmp_path / "after.tar"), members, count + more)
    sums = [hb.sha256(before), hb.sha256(after)]
    task, output, rss, secs = hb.run_module("checkpoint_diff", {"before": before, "after": after}, timeout=240)
    assert not task.get("failed"), task.get("msg")
    assert "Traceback" not in output and [hb.sha256(before), hb.sha256(after)] == sums
    assert rss <= hb.RSS_LIMIT_MB, rss
    files = task["checkpoint_diff"]["files"]
    assert files["closed"] == [] and files["changed"] == []
    assert [(row["pid"], row["fd"], row["path"]) for row in files["opened"]] == \
        [(1, 3 + index, "/var/log/app/%d.log" % index) for index in range(count, count + diff.MAX_ROWS)]
    assert task["checkpoint_diff"]["omitted"] == {"processes": 0, "memory": 0, "files": more - diff.MAX_ROWS,
                                                  "sockets": 0}
    assert any("%d open files left out" % (more - diff.MAX_ROWS) in warning for warning in task["warnings"])
    assert secs < 60


def test_30k_pids_a_side_through_ansible(archives, tmp_path):
    """1,500 pids only before, 1,500 only after and 1,200 whose comm changed (same exe: a change,
    not another program): each list holds MAX_ROWS in pid order, the rest counted exactly and said;
    one side's processes held at a time (both held: 218 MB)."""
    count, gone, renamed = 30000, 1500, 1200  # criu/tree.py reads MAX_TASKS (32,768) of a side
    members = hostile.load_members(archives["counters"])
    before = h3.many_pids(str(tmp_path / "before.tar"), members, range(1, count + 1),
                          dict((pid, "w%d" % pid) for pid in range(2, 2 + renamed)))
    after = h3.many_pids(str(tmp_path / "after.tar"), members,
                         list(range(1, count + 1 - gone)) + list(range(count + 1, count + 1 + gone)),
                         dict((pid, "x%d" % pid) for pid in range(2, 2 + renamed)))
    sums = [hb.sha256(before), hb.sha256(after)]
    task, output, rss, secs = hb.run_module("checkpoint_diff", {"before": before, "after": after}, timeout=240)
    assert not task.get("failed"), task.get("msg")
    assert "Traceback" not in output and [hb.sha256(before), hb.sha256(after)] == sums
    assert rss <= hb.RSS_LIMIT_MB, rss
    result = task["checkpoint_diff"]
    processes = result["processes"]
    assert [(row["pid"], row["changes"]) for row in processes["changed"]] == [
        (pid, {"comm": {"before": "w%d" % pid, "after": "x%d" % pid}}) for pid in range(2, 2 + diff.MAX_ROWS)]
    assert [row["pid"] for row in processes["removed"]] == list(range(count + 1 - gone, count + 1 - gone + diff.MAX_ROWS))
    assert [row["pid"] for row in processes["added"]] == list(range(count + 1, count + 1 + diff.MAX_ROWS))
    assert result["memory"] == []
    left = (renamed - diff.MAX_ROWS) + 2 * (gone - diff.MAX_ROWS)
    assert result["omitted"] == {"processes": left, "memory": 0, "files": 0, "sockets": 0}
    assert any("%d processes left out of checkpoint_diff.processes" % left in warning for warning in task["warnings"])
    assert secs < 120
