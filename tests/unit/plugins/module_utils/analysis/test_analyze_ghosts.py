# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleted executables and sparse ghost files, which no fixture has: the lookup archive with its
remap-fpath.img rewritten the way CRIU writes these cases (entries built with pycriu's messages)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import os
import struct
import tarfile

import pytest
from pycriu.images import magic, pb

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze

BUSYBOX_ID = 23  # files.img id of /usr/bin/busybox: the exe of pids 15 and 20
AUDIT_ID = 19
ELF = b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 9 + b"busybox, deleted after start\n" * 40


def image(name, entries, payload=b""):
    body = b"".join(struct.pack("<I", len(e)) + e for e in entries)
    return struct.pack("<II", magic.by_name["IMG_COMMON"], magic.by_name[name]) + body + payload


def remap(orig_id, remap_id):
    entry = pb.remap_file_path_entry(orig_id=orig_id, remap_id=remap_id)
    entry.remap_type = pb.remap_file_path_entry.DESCRIPTOR.fields_by_name["remap_type"].enum_type \
        .values_by_name["GHOST"].number
    return entry.SerializeToString()


def ghost(mode, payload=b"", chunks=None, size=None):
    entry = pb.ghost_file_entry(uid=0, gid=0, mode=mode)
    if chunks is None:
        return image("GHOST_FILE", [entry.SerializeToString()], payload)
    entry.chunks, entry.size = True, size
    body = b"".join(struct.pack("<I", len(c)) + c + data for c, data in
                    ((pb.ghost_chunk_entry(len=len(data), off=off).SerializeToString(), data) for off, data in chunks))
    return image("GHOST_FILE", [entry.SerializeToString()]) + body


@pytest.fixture(scope="module")
def doctored(archives, tmp_path_factory):
    """lookup-compromised as a plain tar, busybox deleted (ghost 2), the audit log as a sparse ghost."""
    path = str(tmp_path_factory.mktemp("ghosts") / "doctored.tar")
    extra = {
        "checkpoint/remap-fpath.img": image("REMAP_FPATH", [remap(AUDIT_ID, 1), remap(BUSYBOX_ID, 2)]),
        "checkpoint/ghost-file-1.img": ghost(0o100644, chunks=[(0, b"head\n"), (8192, b"tail\n")], size=8197),
        "checkpoint/ghost-file-2.img": ghost(0o104755, ELF),  # setuid: hashed, but not exported
    }
    with gzip.open(archives["lookup"]) as raw, tarfile.open(fileobj=raw, mode="r|") as tin, \
            tarfile.open(path, "w") as tout:
        for info in tin:
            data = tin.extractfile(info).read() if info.isfile() else None
            data = extra.pop(info.name, data)
            if data is not None:
                info.size = len(data)
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    return path


def test_deleted_executable_is_flagged_and_recoverable(doctored):
    analysis = analyze(doctored)
    assert analysis["warnings"] == []
    procs = dict((proc["pid"], proc) for proc in analysis["processes"])
    assert [(pid, procs[pid]["exe"], procs[pid]["exe_deleted"]) for pid in (1, 15, 16, 20)] == [
        (1, "/usr/bin/python3.11", False), (15, "/usr/bin/busybox", True), (16, "/usr/bin/dash", False),
        (20, "/usr/bin/busybox", True)]
    exe = [f for f in procs[15]["files"] if f["fd"] == "exe"][0]
    assert (exe["deleted"], exe["recoverable"], exe["size"], exe["sha256"]) == \
        (True, True, len(ELF), hashlib.sha256(ELF).hexdigest())


def test_sparse_ghost_file_keeps_its_holes(doctored, tmp_path):
    expected = b"head\n" + b"\0" * (8192 - 5) + b"tail\n"
    analysis = analyze(doctored, include=["files"], export_dir=str(tmp_path), export=["recovered"])
    audit = [f for f in analysis["processes"][0]["files"] if f["fd"] == 3][0]
    assert (audit["size"], audit["sha256"]) == (8197, hashlib.sha256(expected).hexdigest())
    assert [e["source"] for e in analysis["exported"]] == ["/var/log/lookup-audit.log"]
    with open(analysis["exported"][0]["path"], "rb") as handle:
        assert handle.read() == expected
    assert os.stat(analysis["exported"][0]["path"]).st_mode & 0o7777 == 0o600
    assert analysis["export_skipped"] == [{"kind": "recovered", "source": "/usr/bin/busybox",
                                           "reason": "setuid/setgid file"}]
    assert not os.path.exists(str(tmp_path / "recovered" / "usr"))
