# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): exports of files a small archive declares huge. Zero blocks are written as holes,
and a run's export is capped by export_limit (the file that would pass it is refused, nothing
half-written left). Run through Ansible: checkpoint_analyze itself, -vvv."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

import pytest

import hostile_archives as hostile
import hostile_bounds as hb

TAIL = b"evidence at the end of a zero-filled file\n"


@pytest.fixture(scope="module")
def counters_members(archives):
    return hostile.load_members(archives["counters"])


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, files in os.walk(root) for f in files)


def test_zero_file_is_written_sparse_and_hashed_right(counters_members, tmp_path):
    size = 700 << 20
    path = hb.zero_file_archive(str(tmp_path / "z.tar.gz"), counters_members, size, TAIL)
    assert os.path.getsize(path) < 4 << 20
    before = hb.sha256(path)
    dest = tmp_path / "out"
    task, output, rss, _secs = hb.run_module("checkpoint_analyze", {"path": path, "export_dir": str(dest),
                                                                    "export": ["rootfs"]})
    assert not task.get("failed"), task.get("msg")
    assert rss <= hb.RSS_LIMIT_MB, rss
    written = dest / "rootfs" / "var" / "tmp" / "zeros.bin"
    st = os.stat(str(written))
    assert st.st_size == size + len(TAIL) and st.st_blocks * 512 < 4 << 20, (st.st_size, st.st_blocks)
    digest = hashlib.sha256()
    digest.update(bytes(size))
    digest.update(TAIL)
    [record] = task["analysis"]["exported"]
    assert record["sha256"] == digest.hexdigest() and record["size"] == size + len(TAIL)
    with open(str(written), "rb") as handle:
        handle.seek(size)
        assert handle.read() == TAIL
    assert _tree(str(dest)) == ["rootfs/var/tmp/zeros.bin"]
    assert "Traceback" not in output and hb.sha256(path) == before


@pytest.mark.parametrize("limit, size", [(None, (1 << 30) + 4096), (64 << 20, 65 << 20)])
def test_export_limit_refuses_the_file_that_passes_it(counters_members, tmp_path, limit, size):
    path = hb.zero_file_archive(str(tmp_path / "z.tar.gz"), counters_members, size, TAIL)
    before = hb.sha256(path)
    dest = tmp_path / "out"
    args = {"path": path, "export_dir": str(dest), "export": ["rootfs"]}
    if limit is not None:
        args["export_limit"] = limit
    task, output, rss, _secs = hb.run_module("checkpoint_analyze", args)
    assert not task.get("failed"), task.get("msg")
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert task["analysis"]["exported"] == []
    [skip] = task["analysis"]["export_skipped"]
    assert skip["source"] == "/var/tmp/zeros.bin" and "export limit of %d bytes" % (limit or 1 << 30) in skip["reason"]
    assert _tree(str(dest)) == []  # no temporary file left behind
    assert "Traceback" not in output and hb.sha256(path) == before
