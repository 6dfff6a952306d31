# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: decoded images bounded in total, by what they take in memory, not by their bytes.
Decoded messages take about six times their bytes (a 1.9 KB core image: 10.5 KB), and every image
decoded was kept for the archive's life: 30k processes each with a core image (each image, and
their 57 MB together, under every byte bound) took 423 MB in checkpoint_analyze, 394 MB in
checkpoint_memory and 215 MB in checkpoint_diff. 150k utsns images, each decoded for the first
one's host name, 255 MB; a mountpoints image of 170k mounts 1.7 GB and 118 s. criu/tree.py keeps
decoded images up to CACHE_COST and lets them go once the analysis is done; analysis/mounts.py lists
MAX_MOUNTS; criu/images.py IMAGE_LIMITS refuses a mountpoints image past what a mount tree takes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil
import tarfile

import pytest

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import mounts
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images


@pytest.fixture(scope="module")
def members(archives):
    return hostile.load_members(archives["counters"])


def _run(module, args, *paths):
    task, secs = hb.run_bounded(module, args, paths)
    assert not task.get("failed"), task.get("msg")
    return task, secs


def test_30k_processes_with_their_core_images(members, tmp_path):
    """Every process named by its own core image: each module reads all of them (the analysis and the
    memory listing name those they list, the diff compares every name) within the bound."""
    count = 30000
    comms = dict((pid, "w%d" % pid) for pid in range(1, count + 1))
    before = h3.many_pids(str(tmp_path / "before.tar"), members, range(1, count + 1), comms)
    after = str(tmp_path / "after.tar")
    shutil.copyfile(before, after)
    task, _secs = _run("checkpoint_analyze", {"path": before, "include": ["processes", "stats"]}, before)
    listed = task["analysis"]["processes"]
    assert len(listed) == 1000 and all(proc["comm"] == comms[proc["pid"]] for proc in listed)
    assert task["analysis"]["stats"]["processes"] == count
    task, _secs = _run("checkpoint_memory", {"path": before}, before)  # max_processes: 1000 listed, all counted
    assert [proc["comm"] for proc in task["processes"]] == ["w%d" % pid for pid in range(1, 1001)]
    assert task["omitted"]["processes"] == count - 1000
    assert any("first 1000 of %d processes" % count in warning for warning in task["warnings"])
    task, _secs = _run("checkpoint_diff", {"before": before, "after": after}, before, after)
    assert task["checkpoint_diff"]["processes"] == {"added": [], "removed": [], "changed": []}


def test_many_uts_images_decode_one(members, tmp_path):
    """150k utsns images (3 MB compressed): the host name is the first one's."""
    name, data = [(info.name, body) for info, body in members if "/utsns-" in info.name][0]
    extra = []
    for index in range(150000):
        info = tarfile.TarInfo("checkpoint/utsns-%d.img" % (1000000 + index))
        info.size = len(data)
        extra.append((info, data))
    path = hostile.write_tar(str(tmp_path / "uts.tar.zst"), members + extra, "zst")
    task, _secs = _run("checkpoint_analyze", {"path": path, "include": ["stats"]}, path)
    fixture = images.decode(name, data).first().nodename
    assert task["analysis"]["container"]["hostname"] == fixture


def test_mount_tree_is_listed_up_to_max_mounts(members, tmp_path):
    """120k mounts in a 4 MB image (3 MB compressed): MAX_MOUNTS listed, parents first, the rest
    counted in omitted.mounts and said; a bigger image is not decoded, with a warning naming it."""
    count = 120000
    path = h3.many_mounts(str(tmp_path / "mounts.tar.zst"), members, count, "zst")
    task, secs = _run("checkpoint_analyze", {"path": path, "include": ["mounts"]}, path)
    listed = task["analysis"]["mounts"]["criu"]
    assert len(listed) == mounts.MAX_MOUNTS and listed[0]["mountpoint"] == "/"
    total = mounts.MAX_MOUNTS + task["analysis"]["omitted"]["mounts"]
    assert total > count
    assert any("lists the first %d of %d mounts" % (mounts.MAX_MOUNTS, total) in warning for warning in task["warnings"])
    assert secs < 60
    path = h3.many_mounts(str(tmp_path / "more.tar"), members, 150000)
    task, _secs = _run("checkpoint_analyze", {"path": path, "include": ["mounts"]}, path)
    assert task["analysis"]["mounts"]["criu"] == []
    limit = images.IMAGE_LIMITS["MNTS"]
    assert any("mountpoints-" in warning and "more than the %d" % limit in warning for warning in task["warnings"])
