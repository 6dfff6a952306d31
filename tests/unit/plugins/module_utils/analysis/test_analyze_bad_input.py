# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""analysis.py on archives these tests break on purpose: corrupt images fail with one line naming
the image, missing images give a partial result with warnings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import json
import random
import shutil
import struct
import tarfile

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

IMG_COMMON = struct.pack("<I", 0x54564319)
CORE_MAGIC = struct.pack("<I", 0x55053847)


def rewrite(src, dest, replace=None, drop=(), mode="w"):
    """A copy of the archive ``src`` with members replaced (name -> bytes) or dropped."""
    replace = replace or {}
    options = {"compresslevel": 1} if mode == "w:gz" else {}
    with tarfile.open(src) as tin, tarfile.open(dest, mode, **options) as tout:
        for info in tin:
            if info.name in drop:
                continue
            data = tin.extractfile(info).read() if info.isfile() else None
            if info.name in replace:
                data = replace[info.name]
                if callable(data):
                    data = data(tin.extractfile(info).read())
                info.size = len(data)
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
    return dest


def one_line_error(path, **kwargs):
    with pytest.raises(CheckpointError) as caught:
        analyze(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("member,data,expected", [
    ("checkpoint/core-1.img", IMG_COMMON + CORE_MAGIC + b"\x40\x00\x00\x00" + b"\xff" * 64,
     "checkpoint/core-1.img: undecodable core_entry entry at offset 8"),
    ("checkpoint/core-1.img", lambda data: data[:100], "checkpoint/core-1.img: entry at offset 8 claims"),
    ("checkpoint/pstree.img", b"\x00\x01", "checkpoint/pstree.img: truncated image header"),
    ("checkpoint/fdinfo-2.img", IMG_COMMON + CORE_MAGIC, "checkpoint/fdinfo-2.img: expected a FDINFO image, found CORE"),
    ("checkpoint/files.img", b"garbage!" * 4, "checkpoint/files.img: not a CRIU image"),
    ("checkpoint/mountpoints-13.img", lambda data: data[:-7], "checkpoint/mountpoints-13.img: "),
    ("checkpoint/pagemap-1.img", lambda data: data[:-3], "checkpoint/pagemap-1.img: "),
    ("rootfs-diff.tar", b"\x01" * 1024, "rootfs-diff.tar is not a readable tar"),
])
def test_corrupt_member_fails_with_one_line(archives, tmp_path, member, data, expected):
    broken = rewrite(archives["counters"], str(tmp_path / "broken.tar"), replace={member: data})
    message = one_line_error(broken)
    assert expected in message
    assert message.startswith(member) or message.startswith(broken)


def test_corrupt_ghost_file_in_gzip_archive(archives, tmp_path):
    ghost = "checkpoint/ghost-file-1.img"
    broken = rewrite(archives["lookup"], str(tmp_path / "broken.tar.gz"), replace={ghost: lambda d: d[:20]}, mode="w:gz")
    assert one_line_error(broken).startswith(ghost + ": ")


@pytest.mark.parametrize("drop,warning", [
    ("checkpoint/ghost-file-1.img", "checkpoint/ghost-file-1.img is missing: the content of deleted file "
                                    "/var/log/lookup-audit.log cannot be recovered"),
    ("checkpoint/mm-16.img", "checkpoint/mm-16.img is missing: pid 16: command line, environment and executable "
                             "are unknown"),
    ("checkpoint/pages-3.img", "checkpoint/pages-3.img is missing: pid 16's command line and environment are unknown"),
    ("checkpoint/tcp-stream-e617.img", None),
    ("checkpoint/ids-16.img", "checkpoint/ids-16.img is missing: pid 16: open files are unknown"),
])
def test_missing_images_give_partial_results(archives, tmp_path, drop, warning):
    partial = rewrite(archives["lookup"], str(tmp_path / "partial.tar"), drop=(drop,))
    analysis = analyze(partial)
    procs = dict((proc["pid"], proc) for proc in analysis["processes"])
    assert [proc["pid"] for proc in analysis["processes"]] == [1, 15, 16, 20]
    assert analysis["warnings"] == ([warning] if warning else [])
    audit = [f for f in procs[1]["files"] if f["fd"] == 3][0]
    assert audit["deleted"] is True
    assert audit["recoverable"] is (drop != "checkpoint/ghost-file-1.img")
    if "mm-16" in drop or "pages-3" in drop:
        assert procs[16]["argv"] == [] and procs[16]["env"] == {}
        assert procs[20]["cmdline"] == "busybox sleep 3600"
    if "mm-16" in drop:
        assert procs[16]["exe"] is None
    if "ids-16" in drop:
        assert procs[16]["sockets"] == [] and [f["fd"] for f in procs[16]["files"]] == ["cwd", "root", "exe"]
        assert len(procs[20]["sockets"]) == 2
    if "tcp-stream" in drop:
        assert procs[16]["sockets"][0]["state"] == "ESTABLISHED" and procs[16]["sockets"][0]["in_queue"] is None


def test_missing_pstree_and_files(archives, tmp_path):
    partial = rewrite(archives["counters"], str(tmp_path / "partial.tar"),
                      drop=("checkpoint/pstree.img", "checkpoint/files.img"))
    analysis = analyze(partial)
    assert analysis["processes"] == []
    assert analysis["warnings"] == ["checkpoint/pstree.img is missing: no process data"]
    assert analysis["mounts"]["criu"] and analysis["rootfs"]["changed"]


def test_missing_files_image(archives, tmp_path):
    partial = rewrite(archives["counters"], str(tmp_path / "partial.tar"), drop=("checkpoint/files.img",))
    analysis = analyze(partial)
    proc = analysis["processes"][0]
    assert proc["cmdline"] == "python3 /app/counter.py"
    assert (proc["exe"], proc["cwd"]) == (None, None)
    # fdinfo still says what each descriptor is; what it points at is unknown.
    assert [(f["fd"], f["type"], f["path"]) for f in proc["files"]] == [
        (0, "REG", None), (1, "PIPE", None), (2, "PIPE", None), (3, "INETSK", None)]
    assert proc["sockets"] == []
    assert analysis["warnings"] == ["checkpoint/files.img is missing: open files, sockets, exe, cwd and root are "
                                    "unknown"]


def test_missing_rootfs_diff(archives, tmp_path):
    partial = rewrite(archives["counters"], str(tmp_path / "partial.tar"), drop=("rootfs-diff.tar",))
    analysis = analyze(partial)
    assert analysis["rootfs"] == {"changed": [], "deleted": []}
    assert analysis["warnings"] == ["rootfs-diff.tar is missing: file system changes are unknown"]


def test_not_a_checkpoint(tmp_path):
    path = str(tmp_path / "plain.tar")
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    assert one_line_error(path) == path + ": not a checkpoint archive (no checkpoint/ directory)"


def test_truncated_and_unreadable_archives(archives, tmp_path):
    with open(archives["lookup"], "rb") as handle:
        head = handle.read(200000)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(head)
    assert "truncated gzip archive" in one_line_error(str(truncated))
    assert one_line_error(str(tmp_path / "absent.tar")) == str(tmp_path / "absent.tar") + ": no such file or directory"
    not_tar = tmp_path / "notes.txt"
    not_tar.write_bytes(b"just some notes\n" * 100)
    assert "not a tar archive" in one_line_error(str(not_tar))


def test_unknown_section_is_refused(archives):
    assert "unknown section or export kind: memory" in one_line_error(archives["counters"], include=["memory"])


def test_mangled_images_never_escape_as_tracebacks(archives, monkeypatch, tmp_path):
    """Random bytes overwritten in every image: a result or one CheckpointError line, nothing else
    (for example protobuf hands back bytes for string fields holding invalid UTF-8)."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import archive as archive_mod

    plain = str(tmp_path / "lookup.tar")  # the gzip fixture as a plain tar: each analysis takes milliseconds
    with gzip.open(archives["lookup"]) as fin, open(plain, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    original = archive_mod.CheckpointArchive.read
    rng = random.Random(20261126)
    with archive_mod.CheckpointArchive(plain) as archive:
        targets = [m.name for m in archive.files("checkpoint/") if m.name.endswith(".img")
                   and not m.name.startswith(("checkpoint/pages-", "checkpoint/tmpfs-"))]
    for target in targets:
        for _round in range(4):
            flips = [(rng.random(), rng.randrange(256)) for _flip in range(rng.randint(1, 12))]

            def read(self, name, limit=archive_mod.KEEP_MEMBER_LIMIT, target=target, flips=flips):
                data = original(self, name, limit)
                if name != target or len(data) <= 8:
                    return data
                mangled = bytearray(data)
                for where, value in flips:
                    mangled[8 + int(where * (len(data) - 8))] = value
                return bytes(mangled)

            monkeypatch.setattr(archive_mod.CheckpointArchive, "read", read)
            try:
                analysis = analyze(plain)
            except CheckpointError as exc:
                assert "\n" not in str(exc)
            else:
                json.dumps(analysis)  # what the module returns must serialise
