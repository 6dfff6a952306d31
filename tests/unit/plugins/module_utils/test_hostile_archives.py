# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives an attacker wrote, built from a real fixture: one-line errors or partial results, never
a traceback, never a hang or an unbounded allocation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import resource
import tarfile
import time

import pytest

import hostile_archives as hostile
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import archive as archive_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ArchiveError, CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap


@pytest.fixture(scope="module")
def worker_members(archives):
    return hostile.load_members(archives["worker41"])


def _one_line(err, path):
    text = str(err)
    assert "\n" not in text and text.startswith(str(path)) or text.startswith("checkpoint/"), text
    return text


def test_traversal_names_are_ignored_with_a_warning(worker_members, tmp_path):
    evil = [hostile.entry("../../etc/cron.d/evil", b"* * * * * root sh\n"),
            hostile.entry("/etc/passwd", b"root::0:0::/:/bin/sh\n"),
            hostile.entry("checkpoint/../../config.dump", b'{"name": "spoofed"}')]
    path = hostile.write_tar(str(tmp_path / "traversal.tar"), worker_members + evil)
    info = metadata.inspect_path(path)
    assert info["container"] == "worker41"  # the spoofed config.dump did not win
    escaped = [w for w in info["warnings"] if "escapes the archive root" in w]
    assert len(escaped) == 3


@pytest.mark.parametrize("kind,link", [(tarfile.SYMTYPE, "/etc/shadow"), (tarfile.LNKTYPE, "/etc/shadow")])
def test_linked_metadata_is_refused_not_followed(worker_members, tmp_path, kind, link):
    members = hostile.without(worker_members, "config.dump") + [hostile.entry("config.dump", kind=kind, linkname=link)]
    path = hostile.write_tar(str(tmp_path / "link.tar"), members)
    with pytest.raises(ArchiveError) as err:
        metadata.inspect_path(path)
    assert "config.dump is a %s, not a regular file" % ("symlink" if kind == tarfile.SYMTYPE else "hardlink") \
        in _one_line(err.value, path)


def test_non_utf8_names_are_shown_escaped(worker_members, tmp_path):
    bad = tarfile.TarInfo("x")
    members = worker_members + [(bad, b"")]
    path = hostile.write_tar(str(tmp_path / "names.tar"), members)
    # Patch the raw header bytes: a GNU tar name field may hold any bytes.
    raw = bytearray(open(path, "rb").read())
    index = raw.rfind(b"x\0\0\0")
    raw[index:index + 4] = b"\xff\xfe\x1b\x00"
    open(path, "wb").write(bytes(raw))
    with CheckpointArchive(path) as archive:
        shown = [archive_mod.printable(name) for name in archive.order]
    assert all(s.isprintable() for s in shown)


def test_huge_member_count_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_mod, "MAX_MEMBERS", 1000)
    members = [hostile.entry("checkpoint/f%d" % i) for i in range(1001)]
    path = hostile.write_tar(str(tmp_path / "many.tar.gz"), members, compression="gz")
    with pytest.raises(ArchiveError, match="more than 1000 members"):
        CheckpointArchive(path)


@pytest.mark.parametrize("data,problem", [
    (b"", "truncated image header"),
    (b"\x19\x43\x56\x54", "truncated image header"),
    (b"\x00\x00\x00\x00\x00\x00\x00\x00", "not a CRIU image"),
    (b"\x19\x43\x56\x54\x30\x30\x27\x50" + b"\xff\xff\xff\x7f" + b"xx", "claims 2147483647 bytes"),
    (b"\x19\x43\x56\x54\x30\x30\x27\x50" + b"\x04\x00\x00\x00" + b"\xff\xff\xff\xff", "undecodable"),
    (b"\x19\x43\x56\x54\x30\x30\x27\x50" + b"\x02\x00\x00\x00" + b"\x10\x01", "lacks required fields"),
])
def test_corrupt_images_fail_naming_the_image(data, problem):
    with pytest.raises(ImageError) as err:
        criu_images.decode("checkpoint/pstree.img", data, expect="PSTREE")
    assert str(err.value).startswith("checkpoint/pstree.img: ") and problem in str(err.value)


def test_wrong_image_type(worker_members):
    core = hostile.content(worker_members, "checkpoint/core-1.img")
    with pytest.raises(ImageError, match="expected a PSTREE image, found CORE"):
        criu_images.decode("checkpoint/pstree.img", core, expect="PSTREE")


@pytest.mark.parametrize("runs,problem", [
    ([(0x400000, 10 ** 9)], "points past the end of the pages image"),
    ([(0x400000, 2 ** 50)], "impossible"),
    ([(0x400123, 1)], "impossible"),
    ([(0x400000, 4), (0x401000, 1)], "overlaps the previous one"),
])
def test_lying_pagemaps(worker_members, tmp_path, runs, problem):
    members = hostile.replace(worker_members, "checkpoint/pagemap-7.img", hostile.pagemap(3, runs))
    path = hostile.write_tar(str(tmp_path / "pagemap.tar"), members)
    with CheckpointArchive(path) as archive:
        with pytest.raises(ImageError) as err:
            PageMap.load(archive, 7)
    assert str(err.value).startswith("checkpoint/pagemap-7.img: ") and problem in str(err.value)


def test_pagemap_without_its_pages_image(worker_members, tmp_path):
    members = hostile.without(worker_members, "checkpoint/pages-3.img")
    path = hostile.write_tar(str(tmp_path / "nopages.tar"), members)
    with CheckpointArchive(path) as archive:
        with pytest.raises(ImageError, match="pages image checkpoint/pages-3.img is missing"):
            PageMap.load(archive, 7)


def test_both_pagemap_formats_decode_alike(worker_members, tmp_path):
    for new_format in (False, True):
        data = hostile.image(hostile.PAGEMAP_MAGIC, [b"\x08\x03"] + [hostile.pagemap_entry(0x7f0000000000, 3, 4, new_format)])
        members = hostile.replace(worker_members, "checkpoint/pagemap-7.img", data)
        path = hostile.write_tar(str(tmp_path / ("fmt%d.tar" % int(new_format))), members)
        with CheckpointArchive(path) as archive:
            runs = PageMap.load(archive, 7).runs
        assert [(r.vaddr, r.nr_pages, r.state) for r in runs] == [(0x7f0000000000, 3, "present")]


def test_zero_page_bomb_is_streamed_in_bounded_memory(worker_members, tmp_path):
    """1 GiB of zero pages in a small zstd archive (the benchmark uses 4 GiB)."""
    path = hostile.zero_page_bomb(str(tmp_path / "bomb.tar.zst"), worker_members, 1 << 30)
    size = (tmp_path / "bomb.tar.zst").stat().st_size
    assert size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.time()
    info = metadata.inspect_path(path, checksum=True)
    assert info["sizes"]["memory_pages"] == 1 << 30
    assert time.time() - started < 60  # loose: the benchmark measures it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB
    assert info["archive"]["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_garbage_everywhere_raises_only_project_errors(worker_members, tmp_path):
    """Every small member replaced by garbage in turn: only CheckpointError may escape."""
    for index, (info, data) in enumerate(worker_members):
        if not info.isfile() or len(data) > 1 << 16:
            continue
        garbage = hashlib.sha256(data).digest() * 8
        members = list(worker_members)
        members[index] = (info, garbage)
        path = hostile.write_tar(str(tmp_path / ("g%d.tar" % index)), members)
        try:
            with CheckpointArchive(path) as archive:
                metadata.describe(archive)
                for pid in (1, 6, 7):
                    try:
                        PageMap.load(archive, pid)
                    except CheckpointError:
                        pass
        except CheckpointError:
            pass
