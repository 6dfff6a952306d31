# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""metadata.py: what checkpoint_info reports for every fixture, and how it refuses bad input."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import shutil
import tarfile

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ArchiveError

COUNTERS_SIZES = {"checkpoint": 11774132, "memory_pages": 11747328, "rootfs_diff": 418816}

EXPECTED = {
    "counters": dict(engine="Podman", container="counter", pod=None, namespace=None,
                     image="localhost/forensics/counters-app:v1", runtime="runc", ip="10.88.0.8",
                     id="3517782c6eddcff9ec1766e331e6dc27a8aaa291d3db71f461393bc614ac5a6a",
                     created="2026-11-26T22:20:27.076411227Z", sizes=COUNTERS_SIZES),
    "crio": dict(engine="CRI-O", container="counter", pod="counters-7d9f8b6c5d-x2x4q", namespace="demo",
                 image="quay.io/example/counters-app:main", runtime="runc", ip="10.130.2.99",
                 id="3517782c6eddcff9ec1766e331e6dc27a8aaa291d3db71f461393bc614ac5a6a",
                 created="2026-11-26T22:20:27.076411227Z", checkpointed="2026-11-26T22:20:40.11853Z",
                 criu_version="4.2", sizes=COUNTERS_SIZES),
    "lookup": dict(engine="Podman", container="lookup", image="localhost/forensics/lookup-app:v1", ip="10.88.0.9",
                   id="a5df3ef4ec9bcea130fb1edf5f29c6f5832be7e63d6e4d174bf869d13bcaaf35",
                   sizes={"checkpoint": 12313262, "memory_pages": 12247040, "rootfs_diff": 418816}),
    "lookup_later": dict(engine="Podman", container="lookup", image="localhost/forensics/lookup-app:v1",
                         ip="10.88.0.9", checkpointed="2026-11-26T22:32:04Z",
                         sizes={"checkpoint": 12800906, "memory_pages": 12734464, "rootfs_diff": 419840}),
    "worker41": dict(engine="Podman", container="worker41", image="localhost/forensics/counters-app:v1",
                     ip="10.88.0.14", sizes={"checkpoint": 5067442, "memory_pages": 5017600, "rootfs_diff": 2048}),
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_fixture_metadata(archives, key):
    info = metadata.inspect_path(archives[key])
    for field, value in EXPECTED[key].items():
        assert info[field] == value, field
    assert info["warnings"] == []
    assert info["stats"]["pages_written"] > 0


def test_compressed_and_plain_forms_report_the_same(archives):
    plain = metadata.inspect_path(archives["counters"])
    zst = metadata.inspect_path(archives["counters_zst"])
    for field in ("engine", "container", "image", "id", "ip", "sizes", "stats", "checkpointed"):
        assert plain[field] == zst[field]
    assert (plain["archive"]["compression"], zst["archive"]["compression"]) == ("none", "zstd")


def test_kubelet_name_with_colons_is_not_parsed(archives):
    info = metadata.inspect_path(archives["crio"])
    assert info["name"].count(":") == 2 and info["pod"] == "counters-7d9f8b6c5d-x2x4q"


def test_directory_scan_reports_and_skips(archives, tmp_path):
    shutil.copy(archives["crio"], str(tmp_path))
    shutil.copy(archives["lookup"], str(tmp_path))
    (tmp_path / "notes.txt").write_text("not an archive\n")
    (tmp_path / "subdir").mkdir()
    checkpoints, skipped = metadata.scan(str(tmp_path))
    assert [c["container"] for c in checkpoints] == ["counter", "lookup"]
    reasons = dict((os.path.basename(s["path"]), s["reason"]) for s in skipped)
    assert reasons["notes.txt"].startswith("not a tar archive (") and reasons["subdir"] == "not a regular file"


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def test_tar_without_checkpoint_directory(tmp_path):
    path = _tar(str(tmp_path / "plain.tar"), {"hello.txt": b"hi"})
    with pytest.raises(ArchiveError, match=r"plain\.tar: not a checkpoint archive \(no checkpoint/ directory\)"):
        metadata.inspect_path(path)


def test_bad_metadata_json(tmp_path):
    path = _tar(str(tmp_path / "bad.tar"), {"checkpoint/inventory.img": b"x", "config.dump": b"{broken"})
    with pytest.raises(ArchiveError, match=r"bad\.tar: config\.dump is not valid JSON"):
        metadata.inspect_path(path)


def test_missing_metadata_is_a_warning(tmp_path):
    path = _tar(str(tmp_path / "bare.tar"), {"checkpoint/inventory.img": b"x"})
    info = metadata.inspect_path(path)
    assert info["engine"] is None and info["sizes"]["checkpoint"] == 1
    assert any("config.dump is missing" in w for w in info["warnings"])


def test_corrupt_stats_image_is_a_warning(archives, tmp_path):
    path = _tar(str(tmp_path / "stats.tar"), {"checkpoint/inventory.img": b"x", "stats-dump": b"\x01\x02\x03\x04junk"})
    info = metadata.inspect_path(path)
    assert info["stats"] is None
    assert any("stats-dump: not a CRIU image" in w for w in info["warnings"])
