# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, checkpoint_coredump on forged images: ids a core's 32-bit pid_t cannot hold are one
line; a nice value outside -20..19 is written as 0 with a warning; never a struct.error."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os

import pytest

import hostile_round2 as h2
import module_outputs

_CORE_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "coredump", "test_core.py")


@pytest.fixture(scope="module")
def helpers():
    """The image builders of coredump/test_core.py (pycriu messages, derived archives), reused."""
    spec = importlib.util.spec_from_file_location("core_helpers", _CORE_TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _forged(helpers, archives, tmp_path, pstree=None, nice=None):
    path = archives["counters"]
    replace = {}
    if pstree:
        header, entries = helpers.header_and_entries(path, "checkpoint/pstree.img")
        for field, value in pstree.items():
            setattr(entries[0], field, value)
        replace["checkpoint/pstree.img"] = helpers.image_bytes(header, entries)
    if nice is not None:
        header, (leader,) = helpers.header_and_entries(path, "checkpoint/core-1.img")
        leader.thread_core.sched_nice = nice
        replace["checkpoint/core-1.img"] = helpers.image_bytes(header, [leader])
    return helpers.derived_archive(path, str(tmp_path / "forged.tar"), replace)


@pytest.mark.parametrize("pstree", [{"ppid": 1 << 31}, {"pgid": (1 << 32) - 1}, {"sid": (1 << 31) + 7}])
def test_ids_beyond_pid_t_are_one_line(helpers, archives, tmp_path, pstree):
    archive = _forged(helpers, archives, tmp_path, pstree=pstree)
    before = h2.sha256(archive)
    dest = tmp_path / "cores"
    result = module_outputs.run_module("checkpoint_coredump", {"path": archive, "dest": str(dest)})
    assert result["failed"] and "\n" not in result["msg"] and "out of range for a core file" in result["msg"]
    assert str(list(pstree.values())[0]) in result["msg"] and "Traceback" not in json.dumps(result)
    assert not dest.exists() or h2.files_below(str(dest)) == []
    assert h2.sha256(archive) == before


@pytest.mark.parametrize("nice", [1000, -21, 20, -(1 << 30)])
def test_nice_out_of_range_is_written_as_zero_with_a_warning(helpers, archives, tmp_path, nice):
    archive = _forged(helpers, archives, tmp_path, nice=nice)
    dest = tmp_path / "cores"
    result = module_outputs.run_module("checkpoint_coredump", {"path": archive, "dest": str(dest)})
    assert not result.get("failed"), result.get("msg")
    assert any("sched_nice %d" % nice in warning for warning in result["warnings"])
    assert h2.files_below(str(dest))


def test_a_terabyte_of_untouched_memory_costs_nothing_with_checksum(helpers, archives, tmp_path):
    """A 1 TiB anonymous VMA the pagemap never mentions (a reservation the process never touched):
    its PT_LOAD keeps memsz 1 TiB with filesz 0, so the core, its writing and its SHA-256 cost what
    the pages present cost (the same core without that VMA is the yardstick), in under 200 MB."""
    path = archives["counters"]
    header, (mm,) = helpers.header_and_entries(path, "checkpoint/mm-1.img")
    vma = mm.vmas.add()
    vma.start, vma.end = 0x200000000000, 0x200000000000 + (1 << 40)
    vma.prot, vma.flags, vma.status = 3, 0x22, 513  # rw-, MAP_PRIVATE|MAP_ANONYMOUS, REGULAR|ANON_PRIVATE
    vma.shmid = vma.pgoff = 0
    vma.fd = -1
    forged = helpers.derived_archive(path, str(tmp_path / "huge.tar"), {"checkpoint/mm-1.img": helpers.image_bytes(header, [mm])})
    base, _rss, base_seconds = h2.measure("checkpoint_coredump", {"path": path, "dest": str(tmp_path / "base"), "pid": [1]})
    result, peak_mb, seconds = h2.measure("checkpoint_coredump", {"path": forged, "dest": str(tmp_path / "huge"), "pid": [1]})
    assert not result.get("failed"), result.get("msg")
    core, = result["cores"]
    assert core["size"] == os.path.getsize(core["path"]) < base["cores"][0]["size"] + 4096
    assert core["sha256"] == h2.sha256(core["path"])
    with open(core["path"], "rb") as handle:
        segment, = [s.header for s in helpers.ELFFile(handle).iter_segments() if s.header.p_vaddr == 0x200000000000]
    assert (segment.p_memsz, segment.p_filesz) == (1 << 40, 0)
    assert seconds < 2 * base_seconds + 2 and peak_mb < 200, (seconds, base_seconds, peak_mb)
