# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exporting recovered and rootfs files: only regular files, 0600, never outside export_dir."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import stat
import tarfile

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.export import Exporter


def hostile_rootfs():
    """A rootfs-diff.tar an attacker controls: links, devices, setuid, names that climb out."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
        add("tmp/", tarfile.DIRTYPE, mode=0o1777)
        add("tmp/.x.sh", data=b"#!/bin/sh\necho pwned\n", mode=0o755)
        add("usr/bin/su-copy", data=b"ELF", mode=0o4755)
        add("etc/passwd-link", tarfile.SYMTYPE, link="/etc/passwd")
        add("etc/hard", tarfile.LNKTYPE, link="tmp/.x.sh")
        add("dev/evil", tarfile.CHRTYPE)
        add("run/fifo", tarfile.FIFOTYPE)
        add("../../escape.txt", data=b"climbing\n")
        add("/abs/path.txt", data=b"absolute\n")
    return out.getvalue()


@pytest.fixture(scope="module")
def hostile_archive(archives, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("hostile") / "hostile.tar")
    rootfs = hostile_rootfs()
    with tarfile.open(archives["counters"]) as tin, tarfile.open(path, "w") as tout:
        for info in tin:
            data = tin.extractfile(info).read() if info.isfile() else None
            if info.name == "rootfs-diff.tar":
                data, info.size = rootfs, len(rootfs)
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def test_rootfs_export_only_regular_safe_files(hostile_archive, tmp_path):
    root = tmp_path / "out"
    analysis = analyze(hostile_archive, include=["rootfs"], export_dir=str(root), export=["rootfs"])
    paths = [c["path"] for c in analysis["rootfs"]["changed"]]
    assert paths == ["/tmp", "/tmp/.x.sh", "/usr/bin/su-copy", "/etc/passwd-link", "/etc/hard", "/dev/evil",
                     "/run/fifo", "/escape.txt", "/abs/path.txt"]
    link = analysis["rootfs"]["changed"][3]
    assert (link["type"], link["link_target"]) == ("symlink", "/etc/passwd")
    assert analysis["rootfs"]["changed"][4]["link_target"] == "/tmp/.x.sh"
    assert sorted(e["source"] for e in analysis["exported"]) == ["/abs/path.txt", "/escape.txt", "/tmp/.x.sh"]
    assert dict((s["source"], s["reason"]) for s in analysis["export_skipped"]) == {
        "/tmp": "not a regular file (dir)", "/usr/bin/su-copy": "setuid/setgid file",
        "/etc/passwd-link": "not a regular file (symlink)", "/etc/hard": "not a regular file (hardlink)",
        "/dev/evil": "not a regular file (chardev)", "/run/fifo": "not a regular file (fifo)",
    }
    written = sorted(os.path.relpath(os.path.join(d, f), str(root)) for d, _dirs, files in os.walk(str(root))
                     for f in files)
    assert written == ["rootfs/abs/path.txt", "rootfs/escape.txt", "rootfs/tmp/.x.sh"]
    assert (root / "rootfs" / "tmp" / ".x.sh").read_bytes() == b"#!/bin/sh\necho pwned\n"
    for record in analysis["exported"]:
        assert stat.S_IMODE(os.stat(record["path"]).st_mode) == 0o600  # never executable, never setuid
    assert stat.S_IMODE(os.stat(str(root / "rootfs" / "tmp")).st_mode) == 0o700
    assert not (tmp_path / "escape.txt").exists()


def test_second_run_changes_nothing_and_check_mode_writes_nothing(archives, tmp_path):
    root = tmp_path / "out"
    first = analyze(archives["lookup"], include=["files"], export_dir=str(root), export=["recovered", "rootfs"])
    assert len(first["exported"]) == 13 and all(e["changed"] for e in first["exported"])
    second = analyze(archives["lookup"], include=["files"], export_dir=str(root), export=["recovered", "rootfs"])
    assert not any(e["changed"] for e in second["exported"])
    assert [e["sha256"] for e in second["exported"]] == [e["sha256"] for e in first["exported"]]

    fresh = tmp_path / "dry"
    dry = analyze(archives["lookup"], include=["files"], export_dir=str(fresh), export=["recovered", "rootfs"],
                  check_mode=True)
    assert all(e["changed"] for e in dry["exported"]) and not fresh.exists()
    (root / "recovered" / "var" / "log" / "lookup-audit.log").write_bytes(b"tampered")
    dry = analyze(archives["lookup"], include=["files"], export_dir=str(root), export=["recovered"], check_mode=True)
    assert [e["changed"] for e in dry["exported"]] == [True]
    assert (root / "recovered" / "var" / "log" / "lookup-audit.log").read_bytes() == b"tampered"


def test_symlinks_in_export_dir_are_not_followed(archives, tmp_path):
    root, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (root / "recovered" / "var").mkdir(parents=True)
    os.symlink(str(outside), str(root / "recovered" / "var" / "log"))  # planted directory link
    analysis = analyze(archives["lookup"], include=["files"], export_dir=str(root), export=["recovered"])
    assert analysis["exported"] == []
    assert analysis["export_skipped"] == [{"kind": "recovered", "source": "/var/log/lookup-audit.log",
                                           "reason": "%s: is not a directory (a symlink or file is in the way)" % (
                                               root / "recovered" / "var" / "log")}]
    assert os.listdir(str(outside)) == []

    os.unlink(str(root / "recovered" / "var" / "log"))
    (root / "recovered" / "var" / "log").mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"keep me")
    os.symlink(str(victim), str(root / "recovered" / "var" / "log" / "lookup-audit.log"))  # planted file link
    analysis = analyze(archives["lookup"], include=["files"], export_dir=str(root), export=["recovered"])
    assert analysis["exported"][0]["changed"] is True
    assert victim.read_bytes() == b"keep me"
    exported = root / "recovered" / "var" / "log" / "lookup-audit.log"
    assert not exported.is_symlink() and exported.read_bytes().startswith(b"service started by svc-lookup")


def test_exporter_refuses_unsafe_names(tmp_path):
    exporter = Exporter(str(tmp_path))
    assert exporter.export("rootfs", "x", "rootfs/../../x", [b"data"]) is None
    assert exporter.export("rootfs", "y", "", [b"data"]) is None
    assert exporter.export("rootfs", "z", "rootfs/ok/./z", [b"data"])["path"] == str(tmp_path / "rootfs" / "ok" / "z")
    assert [s["reason"] for s in exporter.skipped] == ["unsafe path component '..'", "empty path"]
    (tmp_path / "rootfs" / "dir").mkdir()
    assert exporter.export("rootfs", "d", "rootfs/dir", [b"data"]) is None
    assert exporter.skipped[-1]["reason"] == "%s: exists and is not a regular file" % (tmp_path / "rootfs" / "dir")


def test_export_dir_that_is_a_file_fails_with_one_line(archives, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(CheckpointError) as caught:
        analyze(archives["counters"], export_dir=str(blocker), export=["rootfs"])
    assert str(caught.value) == "%s: export_dir exists and is not a directory" % blocker
