# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""archive.py on the real fixtures and on archives these tests break on purpose."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import os
import tarfile

import pytest
import zstandard

from ansible_collections.forensic.checkpoint.plugins.module_utils.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ArchiveError


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.mark.parametrize("key,compression", [("counters", "none"), ("crio", "none"), ("counters_zst", "zstd"),
                                             ("lookup", "gzip"), ("lookup_later", "zstd"), ("worker41", "gzip")])
def test_fixtures_index_and_hash(archives, key, compression):
    path = archives[key]
    with CheckpointArchive(path, checksum=True) as archive:
        assert archive.compression == compression
        assert archive.has("checkpoint/pstree.img")
        assert archive.member("checkpoint/pstree.img").is_file
        assert archive.read("checkpoint/pstree.img")[:8] == b"\x19\x43\x56\x54\x30\x30\x27\x50"  # IMG_COMMON, PSTREE
        assert archive.sha256 == sha256(path)


def test_plain_and_compressed_forms_agree(archives):
    with CheckpointArchive(archives["counters"]) as plain, CheckpointArchive(archives["counters_zst"]) as zst:
        assert plain.order == zst.order
        for name in plain.order:
            if plain.members[name].is_file and not name.startswith("checkpoint/pages-") and name != "rootfs-diff.tar":
                assert plain.read(name) == zst.read(name), name


def test_plain_tar_members_read_by_offset(archives):
    with CheckpointArchive(archives["counters"]) as archive:
        pages = archive.member("checkpoint/pages-1.img")
        assert pages.size == 11747328 and pages.offset % 512 == 0
        reader = archive.open_member("checkpoint/pages-1.img")
        reader.seek(4096)
        with open(archives["counters"], "rb") as raw:
            raw.seek(pages.offset + 4096)
            assert reader.read(8192) == raw.read(8192)


def test_compressed_pages_are_streamed_not_held(archives):
    seen = {}

    def visit(member, fileobj):
        if member.name.startswith("checkpoint/pages-"):
            seen[member.name] = sum(len(chunk) for chunk in iter(lambda: fileobj.read(1 << 20), b""))

    with CheckpointArchive(archives["lookup"], visit=visit) as archive:
        pages = [m for m in archive.files("checkpoint/") if m.name.startswith("checkpoint/pages-")]
        assert len(pages) == 4
        assert seen == dict((m.name, m.size) for m in pages)
        with pytest.raises(ArchiveError, match="not held in memory"):
            archive.open_member("checkpoint/pages-1.img")


def test_duplicate_members_last_wins(tmp_path):
    path = str(tmp_path / "dup.tar")
    with tarfile.open(path, "w") as tar:
        for content in (b"first", b"second copy"):
            info = tarfile.TarInfo("checkpoint/x.img")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    with CheckpointArchive(path) as archive:
        assert archive.read("checkpoint/x.img") == b"second copy"
        assert archive.duplicates == ["checkpoint/x.img"]
        assert "more than once" in archive.warnings[0]


def _truncate(src, dest, keep):
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        fout.write(fin.read(keep))
    return dest


@pytest.mark.parametrize("key", ["counters", "lookup", "lookup_later"])
def test_truncated_archives_fail_with_one_line(archives, tmp_path, key):
    src = archives[key]
    path = _truncate(src, str(tmp_path / os.path.basename(src)), os.path.getsize(src) // 2)
    with pytest.raises(ArchiveError) as err:
        CheckpointArchive(path)
    message = str(err.value)
    assert message.startswith(path + ": ") and "\n" not in message
    assert "truncated" in message


def test_corrupt_gzip_fails(archives, tmp_path):
    data = bytearray(open(archives["lookup"], "rb").read())
    data[len(data) // 2:len(data) // 2 + 64] = b"\xff" * 64
    path = tmp_path / "corrupt.tar.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"corrupt\.tar\.gz: .*(corrupt|truncated)"):
        CheckpointArchive(str(path))


@pytest.mark.parametrize("content,problem", [
    (b"", "not a tar archive"),
    (b"just some text\n" * 100, "not a tar archive"),
    (gzip.compress(b"not a tar inside"), "corrupt gzip-compressed tar"),
    (zstandard.ZstdCompressor().compress(b"not a tar inside either" * 40), "zstd-compressed tar"),
    (b"\xfd7zXZ\x00" + b"\x00" * 100, "xz-compressed archives are not supported"),
])
def test_not_tar(tmp_path, content, problem):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=problem):
        CheckpointArchive(str(path))


def test_missing_and_special_files(tmp_path):
    with pytest.raises(ArchiveError, match="no such file or directory"):
        CheckpointArchive(str(tmp_path / "absent.tar"))
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    with pytest.raises(ArchiveError, match="not a regular file"):
        CheckpointArchive(fifo)


def test_symlink_member_is_not_followed(tmp_path):
    path = str(tmp_path / "link.tar")
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("config.dump")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with CheckpointArchive(path) as archive:
        with pytest.raises(ArchiveError, match="config.dump is a symlink, not a regular file"):
            archive.read("config.dump")


def test_archive_is_not_modified(archives):
    for key in ("counters", "lookup", "lookup_later"):
        before = sha256(archives[key])
        with CheckpointArchive(archives[key]) as archive:
            archive.read("checkpoint/pstree.img")
        assert sha256(archives[key]) == before
