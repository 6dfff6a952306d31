# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): ghost files (deleted files' content) that declare far more than they hold, and
many medium ghosts that each pass the per-image limit: the declared and the stored size are
reported apart, hashes are computed streaming, images decoded per run are capped in total
(criu/imageset.py MAX_IMAGES_TOTAL), peak RSS of the child <= 200 MB."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

import pytest

import hostile_bounds as hb

ANALYZE = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
a = analyze({path!r}, include=["files"])
files = [f for p in a["processes"] for f in p["files"] if f.get("recoverable") is not None]
print(json.dumps({{"files": files, "warnings": a["warnings"]}}))
"""


def _by_id(value):
    return dict((f["id"], f) for f in value["files"])


@pytest.mark.parametrize("declared", [100 << 30, 1 << 40])
def test_ghost_declaring_huge_size_with_tiny_payload(archives, tmp_path, declared):
    path = hb.ghost_archive(str(tmp_path / "g.tar"), archives["lookup"], {19: (declared, [(declared - 4, b"tail")])})
    before = hb.sha256(path)
    value, rss, _secs = hb.measure(ANALYZE.format(path=path))
    assert rss <= hb.RSS_LIMIT_MB, rss
    audit = _by_id(value)[19]
    assert (audit["recoverable"], audit["size"], audit["bytes_present"], audit["sha256"]) == (True, declared, 4, None)
    assert any("not hashed" in w for w in value["warnings"])
    assert hb.sha256(path) == before


def test_sparse_ghost_is_hashed_streaming_and_exported_with_holes(archives, tmp_path):
    declared = 250 << 20
    path = hb.ghost_archive(str(tmp_path / "g.tar.gz"), archives["lookup"], {19: (declared, [(declared - 1, b"x")])},
                            compression="gz")
    before = hb.sha256(path)
    dest = tmp_path / "out"
    task, output, rss, _secs = hb.run_module("checkpoint_analyze", {"path": path, "include": ["files"],
                                                                    "export_dir": str(dest), "export": ["recovered"]})
    assert not task.get("failed"), task.get("msg")
    assert rss <= hb.RSS_LIMIT_MB, rss
    expected = hashlib.sha256(bytes(declared - 1) + b"x").hexdigest()
    audit = [f for p in task["analysis"]["processes"] for f in p["files"] if f.get("id") == 19][0]
    assert (audit["size"], audit["bytes_present"], audit["sha256"]) == (declared, 1, expected)
    [record] = task["analysis"]["exported"]
    st = os.stat(record["path"])
    assert record["sha256"] == expected and st.st_size == declared and st.st_blocks * 512 < 1 << 20
    assert record["path"].startswith(str(dest) + os.sep)
    assert "Traceback" not in output and hb.sha256(path) == before


@pytest.mark.parametrize("compression", [None, "gz"])
def test_many_medium_ghosts_are_capped_in_total(archives, tmp_path, compression):
    """Six 15 MiB ghosts, each far under the per-image limit, 90 MiB together: the run decodes at
    most MAX_IMAGES_TOTAL of images and warns about the ones it skips, in bounded memory."""
    ghosts = dict((1000 + n, (None, os.urandom(64) * (15 << 14))) for n in range(6))
    path = hb.ghost_archive(str(tmp_path / ("g.tar.gz" if compression else "g.tar")), archives["lookup"], ghosts,
                            compression=compression)
    before = hb.sha256(path)
    code = """
import json
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
try:
    a = analyze({path!r}, include=["files"], export_dir={dest!r}, export=["recovered"])
    print(json.dumps({{"exported": a["exported"], "warnings": a["warnings"]}}))
except CheckpointError as exc:
    print(json.dumps({{"error": str(exc)}}))
""".format(path=path, dest=str(tmp_path / "out"))
    value, rss, _secs = hb.measure(code)
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert hb.sha256(path) == before
    if compression:  # what a compressed archive holds in memory is capped too (criu/archive.py)
        assert value["error"].startswith(path) and "\n" not in value["error"] and "MiB" in value["error"], value
        return
    skipped = [w for w in value["warnings"] if "not decoded" in w]
    assert 1 <= len(skipped) and len(value["exported"]) + len(skipped) == 6, value["warnings"]
    assert all(r["size"] == 15 << 20 for r in value["exported"])
    assert hb.sha256(path) == before
