# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every engine that reads an archive, on every hostile archive: a result or a CheckpointError,
never another exception; nothing written outside the destination; only private regular files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import stat
import tarfile

import pytest

import hostile_archives as hostile
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import analyze as analysis
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump import core as coredump
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import analyze as analyze_runner
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import memory as memory_runner
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError


def _rootfs_attack():
    """A rootfs-diff.tar that tries every way out of an export directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(name, data=b"", kind=tarfile.REGTYPE, linkname="", mode=0o644):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode, info.size = kind, linkname, mode, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
        add("../../escaped.txt", b"out")
        add("/abs/escaped.txt", b"out")
        add("etc/link", kind=tarfile.SYMTYPE, linkname="/etc/shadow")
        add("etc/link/through.txt", b"through the link")
        add("etc/hard", kind=tarfile.LNKTYPE, linkname="/etc/passwd")
        add("dev/sda", kind=tarfile.BLKTYPE)
        add("usr/bin/suid", b"#!/bin/sh\n", mode=0o4755)
        add("tmp/ok.txt", b"an ordinary file")
    return raw.getvalue()


def _cases(members, lookup_members):
    yield "traversal", members + [hostile.entry("../../evil", b"x"), hostile.entry("/etc/evil", b"x")], None
    yield "symlinked-spec", hostile.without(members, "spec.dump") + [
        hostile.entry("spec.dump", kind=tarfile.SYMTYPE, linkname="/etc/passwd")], None
    yield "duplicate-spec", members + [hostile.entry("spec.dump", b'{"annotations": {"io.container.manager": "x"}}')], None
    yield "garbage-core", hostile.replace(members, "checkpoint/core-1.img", b"\x19\x43\x56\x54garbage" * 9), None
    yield "wrong-magic-pstree", hostile.replace(members, "checkpoint/pstree.img",
                                                hostile.content(members, "checkpoint/core-1.img")), None
    yield "lying-pagemap", hostile.replace(members, "checkpoint/pagemap-7.img",
                                           hostile.pagemap(3, [(0x400000, 1 << 30)])), None
    yield "rootfs-attack", hostile.replace(lookup_members, "rootfs-diff.tar", _rootfs_attack()), None
    yield "truncated-gzip", members, "gz-cut"
    yield "non-utf8-name", members + [hostile.entry("checkpoint/\udcff\udcfe.img", b"x")], None


@pytest.fixture(scope="module")
def hostile_paths(archives, tmp_path_factory):
    where = tmp_path_factory.mktemp("hostile")
    members = hostile.load_members(archives["worker41"])
    lookup_members = hostile.load_members(archives["lookup"])
    paths = {}
    for name, case, form in _cases(members, lookup_members):
        path = str(where / (name + ".tar"))
        if form == "gz-cut":
            hostile.write_tar(path, case, compression="gz")
            data = open(path, "rb").read()
            open(path, "wb").write(data[:len(data) * 2 // 3])
        else:
            hostile.write_tar(path, case)
        os.chmod(path, 0o444)
        paths[name] = path
    paths["bomb"] = hostile.zero_page_bomb(str(where / "bomb.tar.zst"), members, 256 << 20)
    return paths


def _memory_params(path, dest):
    return dict(path=path, parent=None, pid=None, pattern="SECRET", hex=None, regex=None, ignore_case=False,
                context=16, max_matches=10, read=None, strings=None, write=None, dest=dest)


ENGINES = {
    "checkpoint_info": lambda path, out: metadata.inspect_path(path, checksum=True),
    "checkpoint_analyze": lambda path, out: analyze_runner.run_analyze(dict(
        path=path, include=list(analysis.SECTIONS), redact_secrets=True, export_dir=out, export=["recovered", "rootfs"],
        checksum=False, report=os.path.join(out, "report.html"), report_format="html", rules=[], indicators=[],
        yara_rules=[], fail_on_severity=None), False),
    "checkpoint_memory": lambda path, out: memory_runner.query(_memory_params(path, None)),
    "checkpoint_coredump": coredump.write_cores,
}


def _snapshot(root):
    return sorted(os.path.join(d, f) for d, _dirs, files in os.walk(root) for f in files + _dirs)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("case", ["traversal", "symlinked-spec", "duplicate-spec", "garbage-core",
                                  "wrong-magic-pstree", "lying-pagemap", "rootfs-attack", "truncated-gzip",
                                  "non-utf8-name", "bomb"])
def test_engine_on_hostile_archive(hostile_paths, tmp_path, engine, case):
    out = tmp_path / "dest"
    out.mkdir()
    (tmp_path / "bystander").write_text("must stay alone")
    before = _snapshot(str(tmp_path))
    try:
        ENGINES[engine](hostile_paths[case], str(out))
    except CheckpointError as err:
        assert "\n" not in str(err) and "Traceback" not in str(err)
    after = _snapshot(str(tmp_path))
    outside = [p for p in after if not p.startswith(str(out) + os.sep) and p not in before]
    assert outside == [], outside
    for directory, _dirs, files in os.walk(str(out)):
        for name in files:
            st = os.lstat(os.path.join(directory, name))
            assert stat.S_ISREG(st.st_mode), name
            assert stat.S_IMODE(st.st_mode) & 0o7077 == 0, (name, oct(st.st_mode))
    assert not os.path.exists(str(tmp_path.parent / "escaped.txt"))


def test_rootfs_attack_exports_only_the_ordinary_file(hostile_paths, tmp_path):
    result = analysis.analyze(hostile_paths["rootfs-attack"], include=["rootfs"], export_dir=str(tmp_path),
                              export=["rootfs"])
    written = sorted(os.path.relpath(os.path.join(d, f), str(tmp_path))
                     for d, _dirs, files in os.walk(str(tmp_path)) for f in files)
    # Names that climb out are clamped to the container root, as the container saw them.
    assert "rootfs/tmp/ok.txt" in written and all(w.startswith("rootfs/") for w in written)
    assert all(os.path.realpath(os.path.join(str(tmp_path), w)).startswith(str(tmp_path) + os.sep) for w in written)
    assert not any(w.endswith(("suid", "sda", "hard", "link")) for w in written), written
    refused = " ".join(str(item) for item in result["export_skipped"])
    for name in ("suid", "sda", "hard", "link"):
        assert name in refused, (name, refused)
