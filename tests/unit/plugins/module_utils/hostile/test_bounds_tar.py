# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): tar metadata that claims hundreds of MiB, and sparse members of every format.

Bounds live in the archive layer (criu/archive.py BoundedTarInfo, _TarStream): the outer tar and
rootfs-diff.tar alike. Each case: one line naming the file (or the right result), peak RSS of a
child process <= 200 MB, the archive's sha256 unchanged."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import tarfile

import pytest

import hostile_archives as hostile
import hostile_bounds as hb

CLAIMED = 300 << 20


@pytest.fixture(scope="module")
def counters_members(archives):
    return hostile.load_members(archives["counters"])


ENGINE = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import {runner} as runner
try:
    result = runner.run({params!r}, False)
    print(json.dumps({{"ok": True, "result": result.result, "warnings": list(result.warnings)}}, default=str))
except CheckpointError as exc:
    print(json.dumps({{"ok": False, "msg": str(exc)}}))
"""


def run_engine(runner, params):
    return hb.measure(ENGINE.format(runner=runner, params=params))


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE])
@pytest.mark.parametrize("compression", [None, "gz", "zst"])
def test_outer_extended_header_claiming_300_mib(counters_members, tmp_path, kind, compression):
    path = hb.long_header_archive(str(tmp_path / ("a.tar" + {None: "", "gz": ".gz", "zst": ".zst"}[compression])),
                                  counters_members, kind, CLAIMED, compression)
    before = hb.sha256(path)
    value, rss, _secs = run_engine("info", {"path": path, "checksum": False})
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert not value["ok"] and value["msg"].startswith(path) and "\n" not in value["msg"], value
    assert "extended header" in value["msg"]
    assert hb.sha256(path) == before


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
@pytest.mark.parametrize("compression", [None, "gz"])
def test_rootfs_diff_extended_header_claiming_300_mib(counters_members, tmp_path, kind, compression):
    path = hb.long_header_archive(str(tmp_path / ("a.tar" + (".gz" if compression else ""))), counters_members, kind,
                                  CLAIMED, compression, inner=True)
    before = hb.sha256(path)
    task, output, rss, _secs = hb.run_module("checkpoint_analyze", {"path": path})
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert task.get("failed") and "rootfs-diff.tar" in task["msg"] and "\n" not in task["msg"], task
    assert "Traceback" not in output
    assert hb.sha256(path) == before


@pytest.mark.parametrize("compression", [None, "gz"])
@pytest.mark.parametrize("fmt", hb.SPARSE_FORMATS)
def test_sparse_pages_image_is_refused_never_the_next_member(counters_members, tmp_path, fmt, compression):
    """A sparse pages-N.img (1 TiB declared, its real bytes as the only data run) is listed as
    sparse and refused with one line: never read as plain data, which would hand out the bytes
    that follow it in the tar (the next member) as process memory."""
    victim = [info.name for info, _data in counters_members if info.name.startswith("checkpoint/pages-")][0]
    path = hb.sparse_archive(str(tmp_path / ("s.tar.gz" if compression else "s.tar")), counters_members, victim, fmt,
                             compression=compression)
    before = hb.sha256(path)
    value, rss, _secs = run_engine("memory", {"path": path, "checksum": False, "strings": {"min_length": 6}})
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert not value["ok"] and "\n" not in value["msg"], value
    assert victim in value["msg"] and "sparse" in value["msg"], value
    assert hb.sha256(path) == before


def test_long_name_through_ansible(counters_members, tmp_path):
    path = hb.long_header_archive(str(tmp_path / "a.tar.gz"), counters_members, tarfile.GNUTYPE_LONGNAME, CLAIMED, "gz")
    before = hb.sha256(path)
    task, output, rss, _secs = hb.run_module("checkpoint_info", {"path": path})
    assert task.get("failed") and task["msg"].startswith(path) and "\n" not in task["msg"], task
    assert "Traceback" not in output
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert hb.sha256(path) == before
