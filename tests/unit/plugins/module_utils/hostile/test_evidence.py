# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, evidence untouchable: no output (report, memory dest, export_dir files) is ever the
input archive, by any name (itself, ``..`` paths, a hard link, a symlink), nor inside an input
directory; outputs are regular files (FIFO, device refused without opening); a failed write
(file size limit, the way a full disk fails) leaves nothing half-written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import subprocess
import sys

import pytest

import hostile_round2 as h2
import module_outputs


@pytest.fixture
def evidence(archives, tmp_path):
    """A writable copy of the lookup archive (so only our code stands between it and an overwrite)."""
    path = str(tmp_path / "evidence.tar.gz")
    shutil.copy(archives["lookup"], path)
    return path


def _names(evidence, how):
    """Another name of ``evidence`` made ``how``."""
    folder, base = os.path.split(evidence)
    other = os.path.join(folder, "other-" + how)
    if how == "same":
        return evidence
    if how == "dotdot":
        os.mkdir(os.path.join(folder, "sub"))
        return os.path.join(folder, "sub", "..", base)
    if how == "hardlink":
        os.link(evidence, other)
    elif how == "symlink":
        os.symlink(evidence, other)
    elif how == "relative-symlink":
        os.symlink(base, other)
    return other


@pytest.fixture(autouse=True)
def no_hang():
    """A test that blocks on a FIFO fails instead of hanging the suite."""
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("hung"))
    signal.alarm(120)
    yield
    signal.alarm(0)


@pytest.mark.parametrize("how", ["same", "dotdot", "hardlink", "symlink", "relative-symlink"])
def test_analyze_report_never_replaces_the_archive(evidence, how):
    before = h2.sha256(evidence)
    target = _names(evidence, how)
    result = module_outputs.run_module("checkpoint_analyze", {"path": evidence, "report": target, "include": ["mounts"]})
    assert result["failed"] and "\n" not in result["msg"] and os.path.basename(target) in result["msg"], result["msg"]
    assert h2.sha256(evidence) == before and os.lstat(target)  # the other name is still there


@pytest.mark.parametrize("how", ["hardlink", "symlink"])
def test_memory_dest_never_replaces_the_archive(archives, tmp_path, how):
    evidence = str(tmp_path / "evidence.tar")
    shutil.copy(archives["counters"], evidence)
    before = h2.sha256(evidence)
    target = _names(evidence, how)
    result = module_outputs.run_module("checkpoint_memory", {"path": evidence, "dest": target, "read": {
        "pid": 1, "address": "0x7f5ea804e320", "length": 15}})
    assert result["failed"] and "evidence is never overwritten" in result["msg"] and "\n" not in result["msg"]
    assert h2.sha256(evidence) == before


@pytest.mark.parametrize("link", [None, "hardlink"])
def test_export_never_writes_over_the_archive(archives, tmp_path, link):
    """The attacker names a rootfs file like the evidence below export_dir: the export refuses."""
    export_dir = tmp_path / "case"
    (export_dir / "rootfs" / "tmp").mkdir(parents=True)
    evidence = str(export_dir / "rootfs" / "tmp" / "ev.tar")
    h2.build(archives["lookup"], evidence, lambda members: h2.with_rootfs(members, {"tmp/ev.tar": b"overwritten"}))
    if link:
        kept = str(tmp_path / "kept.tar")
        os.rename(evidence, kept)
        os.link(kept, evidence)
        evidence = kept
    before = h2.sha256(evidence)
    path = evidence if not link else str(export_dir / "rootfs" / "tmp" / "ev.tar")
    result = module_outputs.run_module("checkpoint_analyze", {"path": path, "export_dir": str(export_dir),
                                                              "include": ["rootfs"]})
    assert result["failed"] and "evidence is never overwritten" in result["msg"], result
    assert h2.sha256(evidence) == before


def test_export_dir_inside_an_input_directory_is_refused(archives, tmp_path):
    from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.export import Exporter, ExportError
    (tmp_path / "inputs").mkdir()
    with pytest.raises(ExportError) as err:
        Exporter(str(tmp_path / "inputs" / "out"), protect=[str(tmp_path / "inputs")])
    assert "inside the input directory" in str(err.value)
    assert os.listdir(str(tmp_path / "inputs")) == []


@pytest.mark.parametrize("kind", ["fifo", "device", "socket"])
def test_outputs_are_regular_files_only(evidence, tmp_path, kind):
    if kind == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    elif kind == "device":
        target = "/dev/full"
    else:
        import socket
        target = str(tmp_path / "sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(target)
    result = module_outputs.run_module("checkpoint_analyze", {"path": evidence, "report": target, "include": ["mounts"]})
    assert result["failed"] and "not a regular file" in result["msg"] and "\n" not in result["msg"]


_FULL_DISK = r"""
import os, resource, signal, sys
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
with Destination(sys.argv[1]) as destination:
    try:
        destination.write("report.html", b"x" * 100000)
    except CheckpointError as exc:
        print(exc)
"""


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(out)], env=env, capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert message.startswith(str(out / "report.html")) and "cannot write" in message and "\n" not in message
    assert os.listdir(str(out)) == []  # neither the target nor the temporary file
