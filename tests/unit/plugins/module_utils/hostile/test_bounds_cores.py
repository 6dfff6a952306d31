# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16: checkpoint_coredump's output bounded in total. A core copies the memory CRIU dumped;
3,000 processes of a 37 MB archive, each claiming pid 1's pages image, made 33 GB of cores in 215 s
at 266 MB RSS (every plan held until written). One task writes at most coredump/core.py MAX_CORES
cores holding MAX_THREADS threads, and max_bytes of data (holes not counted)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump import core


@pytest.fixture(scope="module")
def cored(archives, tmp_path_factory):
    members = hostile.load_members(archives["counters"])
    return h3.many_cored_processes(str(tmp_path_factory.mktemp("cores") / "cored.tar"), members, 3000)


def _run(args, check=False):
    return hb.run_bounded("checkpoint_coredump", args, [args["path"]], check)[0]


def _on_disk(path):
    return sum(os.stat(os.path.join(path, name)).st_blocks * 512 for name in os.listdir(path))


def test_max_bytes_bounds_what_is_written(cored, tmp_path):
    """max_bytes of data in all: the first cores of the tree are written, the others named in one warning."""
    dest, limit = str(tmp_path / "cores"), 100 << 20
    task = _run({"path": cored, "dest": dest, "checksum": False, "max_bytes": limit})
    assert not task.get("failed"), task.get("msg")
    written = [item["pid"] for item in task["cores"]]
    assert written == list(range(1, len(written) + 1)) and 1 < len(written) < 20
    assert sorted(os.listdir(dest)) == sorted("core.%d" % pid for pid in written)
    assert _on_disk(dest) <= limit + (1 << 20) * len(written)  # a block's rounding a file
    left = 3000 - len(written)
    assert any(warning.startswith("%d processes have no core (pid %d, " % (left, len(written) + 1))
               for warning in task["warnings"]), task["warnings"]


def test_every_process_is_planned_up_to_max_cores(cored, tmp_path):
    """In check mode with the default max_bytes (16 GiB; these 1,000 cores hold 11 GB): MAX_CORES
    planned, the rest named; nothing written."""
    dest = str(tmp_path / "cores")
    task = _run({"path": cored, "dest": dest, "checksum": False}, check=True)
    assert not task.get("failed"), task.get("msg")
    assert len(task["cores"]) == core.MAX_CORES and not os.path.exists(dest)
    assert any(warning.startswith("%d processes have no core" % (3000 - core.MAX_CORES)) for warning in task["warnings"])


def test_asking_for_more_fails_in_one_line(cored, tmp_path):
    dest = str(tmp_path / "cores")
    task = _run({"path": cored, "dest": dest, "pid": list(range(1, core.MAX_CORES + 2))})
    assert task.get("failed") and "one task writes at most %d cores" % core.MAX_CORES in task["msg"]
    task = _run({"path": cored, "dest": dest, "pid": [1, 2, 3], "max_bytes": 1 << 20})
    assert task.get("failed") and task["msg"].startswith("max_bytes: ") and "\n" not in task["msg"]
    assert not os.path.exists(dest)
