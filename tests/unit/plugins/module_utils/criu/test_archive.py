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
import re
import tarfile

import pytest
import zstandard

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
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
    (gzip.compress(b"not a tar inside", mtime=0), "corrupt gzip-compressed tar"),
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


# -- the compressed-archive stream reader --------------------------------------------------------

COMPRESS = {"": lambda data: data, ".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}
LONG = "checkpoint/" + "n" * 200 + "-é.img"


def _tar(members, tar_format=tarfile.PAX_FORMAT):
    """The bytes of a tar of ``[(TarInfo, data)]``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tar_format) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return raw.getvalue()


def _file(name, data, **attrs):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _link(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, b""


def _write(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    return str(path)


def _forms(tmp_path, members, tar_format=tarfile.PAX_FORMAT):
    payload = _tar(members, tar_format)
    return [_write(tmp_path, "form.tar" + suffix, compress(payload)) for suffix, compress in COMPRESS.items()]


def _described(path):
    with CheckpointArchive(path) as archive:
        return [(m.name, m.raw_name, m.kind, m.size, m.linkname, m.uid, m.mtime, archive.read(m.name) if m.is_file else None)
                for m in (archive.members[name] for name in archive.order)], archive.warnings


@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_names_and_pax_records_read_alike_in_every_form(tmp_path, tar_format):
    members = [_file("config.dump", b"{}", mtime=1700000000),
               _file(LONG, b"long name", uid=3 << 21),  # the uid needs a pax record or base-256
               _link("checkpoint/link", "/" + "t" * 150),
               _file("checkpoint/" + "d" * 120 + "/x.img", b"in a deep directory")]
    if tar_format == tarfile.PAX_FORMAT:
        members.append(_file("checkpoint/attrs.img", b"xattrs", pax_headers={"SCHILY.xattr.user.k": "v" * 600}))
    described = [_described(path) for path in _forms(tmp_path, members, tar_format)]
    assert described[0] == described[1] == described[2]
    names = [row[0] for row in described[0][0]]
    assert LONG in names and names[0] == "config.dump"
    row = dict((r[0], r) for r in described[0][0])
    assert row[LONG][5] == 3 << 21 and row[LONG][7] == b"long name"
    assert row["checkpoint/link"][2:5] == ("symlink", 0, "/" + "t" * 150)


def test_stream_member_reads_readintos_and_skips(tmp_path):
    big = bytes(range(256)) * 8192  # 2 MiB: streamed, not kept
    payload = _tar([_file("checkpoint/pages-1.img", big), _file("checkpoint/after.img", b"after")])
    path = _write(tmp_path, "a.tar.zst", COMPRESS[".zst"](payload))
    seen = {}

    def visit(member, fileobj):
        if member.name != "checkpoint/pages-1.img":
            seen[member.name] = fileobj.read()
            return
        assert not fileobj.seekable() and fileobj.readable()
        head = fileobj.read(10)
        buf = bytearray(1000)
        assert fileobj.readinto(memoryview(buf)[:100]) == 100
        fileobj.skip(1 << 20)
        tail = fileobj.read(5)
        seen[member.name] = (head, bytes(buf[:100]), tail, fileobj.position)
        # Past the end: nothing more, whatever is asked.
        fileobj.skip(10 << 20)
        assert fileobj.read(7) == b"" and fileobj.readinto(buf) == 0 and fileobj.read() == b""

    with CheckpointArchive(path, visit=visit) as archive:
        assert archive.read("checkpoint/after.img") == b"after"
    start = 110 + (1 << 20)
    assert seen["checkpoint/pages-1.img"] == (big[:10], big[10:110], big[start:start + 5], start + 5)
    assert seen["checkpoint/after.img"] == b"after"  # the unread rest of the pages was skipped


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_nested_tar_lists_through_the_streamed_member(tmp_path, suffix):
    from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.rootfs import RootfsDiff

    inner = _tar([_file("etc/" + "f" * 150, b"x" * 70000), _file("bin/tool", b"\x7fELF")], tarfile.GNU_FORMAT)
    payload = _tar([_file("config.dump", b"{}"), _file("rootfs-diff.tar", inner), _file("spec.dump", b"{}")])
    path = _write(tmp_path, "rootfs.tar" + suffix, COMPRESS[suffix](payload))
    contents = {}

    def visit(member, fileobj):
        if member.name == "rootfs-diff.tar":
            tar = tarfile.open(fileobj=fileobj, mode="r|")
            for info in tar:
                contents[info.name] = tar.extractfile(info).read()

    with CheckpointArchive(path, visit=visit) as archive:
        assert archive.read("spec.dump") == b"{}"
    assert contents == {"etc/" + "f" * 150: b"x" * 70000, "bin/tool": b"\x7fELF"}
    rootfs = RootfsDiff(path)
    CheckpointArchive(path, visit=rootfs.visit).close()
    assert [(item["path"], item["size"]) for item in rootfs.changed] == [("/etc/" + "f" * 150, 70000), ("/bin/tool", 4)]


def _cut_forms(tmp_path, payload, keep):
    return [_write(tmp_path, "cut.tar" + suffix, COMPRESS[suffix](payload[:keep])) for suffix in (".gz", ".zst")]


@pytest.mark.parametrize("where", ["header", "pax", "kept", "streamed"])
def test_truncated_streams_fail_with_one_line(tmp_path, where):
    members = [_file("config.dump", b"{}"), _file(LONG, b"k" * 5000), _file("checkpoint/pages-1.img", b"p" * 50000)]
    payload = _tar(members)
    first = 1024  # config.dump: its header and one block of data
    keep = {"header": first + 100, "pax": first + 600, "kept": first + 3 * 512 + 100, "streamed": len(payload) - 30000}
    for path in _cut_forms(tmp_path, payload, keep[where]):
        with pytest.raises(ArchiveError) as err:
            CheckpointArchive(path, visit=lambda member, fileobj: fileobj.read())
        message = str(err.value)
        assert message.startswith(path + ": truncated ") and "\n" not in message, message


def test_truncated_member_is_reported_to_the_visit_as_an_archive_error(tmp_path):
    payload = _tar([_file("checkpoint/pages-1.img", b"p" * 50000)])
    failures = []

    def visit(member, fileobj):
        try:
            fileobj.read(1 << 20)
        except ArchiveError as exc:
            failures.append(str(exc))
            raise

    for path in _cut_forms(tmp_path, payload, 20000):
        with pytest.raises(ArchiveError):
            CheckpointArchive(path, visit=visit)
    assert len(failures) == 2 and all("truncated" in f and "inside checkpoint/pages-1.img" in f for f in failures)


@pytest.mark.parametrize("offset,problem", [
    (0, "corrupt zstd-compressed tar after 0 members (bad checksum)"),
    (1024, "corrupt zstd-compressed tar after 1 members (bad checksum)"),  # LONG's pax header
    (1536, "corrupt zstd-compressed tar after 1 members (corrupt pax header)"),  # its first record's length
])
def test_corrupt_headers(tmp_path, offset, problem):
    payload = _tar([_file("config.dump", b"{}"), _file(LONG, b"long")])
    path = _write(tmp_path, "bad.tar.zst", COMPRESS[".zst"](payload[:offset] + b"x" + payload[offset + 1:]))
    with pytest.raises(ArchiveError, match=re.escape(problem)):
        CheckpointArchive(path)


def test_huge_extended_header_is_refused(tmp_path):
    payload = _tar([_file("config.dump", b"{}", pax_headers={"comment": "c" * (2 << 20)})])
    path = _write(tmp_path, "pax.tar.gz", COMPRESS[".gz"](payload))
    with pytest.raises(ArchiveError, match="extended header"):
        CheckpointArchive(path)


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_unsafe_names_and_duplicates_in_every_form(tmp_path, suffix, monkeypatch):
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import archive as archive_mod

    members = [_file("config.dump", b"{}"), _file("../escape", b"evil"), _file("/abs", b"evil"),
               _file("checkpoint/x.img", b"small"), _file("checkpoint/x.img", b"large" * 10)]
    path = _write(tmp_path, "dup.tar" + suffix, COMPRESS[suffix](_tar(members)))
    monkeypatch.setattr(archive_mod, "KEEP_MEMBER_LIMIT", 10)  # the last copy is too big to keep
    with CheckpointArchive(path) as archive:
        assert archive.order == ["config.dump", "checkpoint/x.img"] and archive.member_count == 5
        assert archive.duplicates == ["checkpoint/x.img"]
        assert sum("escapes the archive root" in w for w in archive.warnings) == 2
        if suffix:  # the stale first copy must not stand in for the last one
            with pytest.raises(ArchiveError, match="not held in memory"):
                archive.read("checkpoint/x.img")
        else:
            assert archive.read("checkpoint/x.img") == b"large" * 10
    monkeypatch.setattr(archive_mod, "MAX_MEMBERS", 4)
    with pytest.raises(ArchiveError, match="more than 4 members"):
        CheckpointArchive(path)


@pytest.mark.parametrize("size,problem", [("abc", "corrupt pax header"), ("-5", "has a negative size")])
def test_lying_pax_sizes(tmp_path, size, problem):
    payload = _tar([_file("config.dump", b"{}"), _file("checkpoint/x.img", b"data", pax_headers={"size": size})])
    assert ("size=%s" % size).encode() in payload
    path = _write(tmp_path, "size.tar.gz", COMPRESS[".gz"](payload))
    with pytest.raises(ArchiveError, match="corrupt gzip-compressed tar after 1 members .*" + problem):
        CheckpointArchive(path)
