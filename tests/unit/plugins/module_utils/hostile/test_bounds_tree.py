# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: the process tree bounded in total (criu/tree.py MAX_TASKS, MAX_THREAD_IDS; criu/images.py
IMAGE_LIMITS). Every consumer holds something per task, so a forged pstree.img grew them all: 300k
pids (a 16 MB tar, far less compressed) took 452 MB in checkpoint_analyze, and one entry listing
30M thread ids (a 60 MB image of two-byte varints) 976 MB; checkpoint_diff held two sides of 100k
(205 MB). Each is read up to the bound, counted and said, or refused in one line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images, tree


@pytest.fixture(scope="module")
def members(archives):
    return hostile.load_members(archives["counters"])


def test_300k_pids_are_read_up_to_max_tasks(members, tmp_path):
    """The analysis reads the first MAX_TASKS tasks (pstree order), counts every task in its stats
    and omitted.processes, and says what it left out; checkpoint_memory and checkpoint_coredump
    asked for a pid past the bound say why it is unknown, in one line that does not list 32k pids."""
    count = 300000
    path = hb.replaced_images(str(tmp_path / "p300k.tar.zst"), members,
                              {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(count))}, compression="zst")
    task, secs = hb.run_bounded("checkpoint_analyze", {"path": path}, [path])
    assert not task.get("failed"), task.get("msg")
    analysis = task["analysis"]
    assert analysis["stats"]["processes"] == count
    assert analysis["omitted"]["processes"] == count - len(analysis["processes"])
    note = "pstree.img lists %d tasks: the first %d (tree order) are read" % (count, tree.MAX_TASKS)
    assert any(note in warning for warning in task["warnings"]), task["warnings"]
    assert secs < 120
    past = tree.MAX_TASKS + 10
    for module, args in (("checkpoint_memory", {"path": path, "pid": past, "strings": {}}),
                         ("checkpoint_coredump", {"path": path, "pid": past, "dest": str(tmp_path / "cores")})):
        task, _secs = hb.run_bounded(module, args, [path])
        assert task.get("failed") and "no process %d in" % past in task["msg"] and note in task["msg"], task
        assert "\n" not in task["msg"] and len(task["msg"]) < 1000, len(task["msg"])


def test_thread_ids_past_the_bound_are_counted(members, tmp_path):
    """One task listing 1.5M thread ids (a 3 MB image): MAX_THREAD_IDS are read, the stats and
    omitted.threads count all of them, and a warning says so."""
    count = 1500000
    path = h3.pstree_thread_bomb(str(tmp_path / "threads.tar"), members, count)
    task, _secs = hb.run_bounded("checkpoint_analyze", {"path": path, "include": ["processes", "stats"]}, [path])
    assert not task.get("failed"), task.get("msg")
    analysis = task["analysis"]
    assert analysis["stats"]["threads"] >= count
    listed = sum(len(proc["threads"]) for proc in analysis["processes"])
    assert analysis["omitted"]["threads"] == analysis["stats"]["threads"] - listed
    assert any("thread ids past the first %d are not" % tree.MAX_THREAD_IDS in warning for warning in task["warnings"])


@pytest.mark.parametrize("compression", [None, "zst"])
def test_oversized_pstree_is_refused(members, tmp_path, compression):
    """A pstree.img bigger than IMAGE_LIMITS allows (5M thread ids, 10 MB) is not decoded: from a
    plain tar the modules fail in one line naming it; from a compressed one, where the analysis
    decides what to decode before reading, it warns and goes on without processes."""
    path = h3.pstree_thread_bomb(str(tmp_path / ("bomb.tar" + ("." + compression if compression else ""))), members,
                                 5000000, compression)
    limit = "%d" % images.IMAGE_LIMITS["PSTREE"]
    task, _secs = hb.run_bounded("checkpoint_analyze", {"path": path}, [path])
    if compression:
        assert not task.get("failed"), task.get("msg")
        assert task["analysis"]["processes"] == []
        assert any("checkpoint/pstree.img" in warning and limit in warning for warning in task["warnings"])
    else:
        assert task.get("failed") and "checkpoint/pstree.img" in task["msg"] and limit in task["msg"], task
    task, _secs = hb.run_bounded("checkpoint_memory", {"path": path, "strings": {}}, [path])
    assert task.get("failed") and "checkpoint/pstree.img" in task["msg"] and "\n" not in task["msg"], task
