# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""output.Destination: 0600 atomic files, "unchanged" by SHA-256, check mode, evidence untouchable."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import stat

import pytest

import module_outputs
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_write_is_0600_atomic_and_knows_unchanged(tmp_path):
    os.umask(0o022)
    with Destination(str(tmp_path)) as destination:
        first = destination.write("out.txt", b"one")
        again = destination.write("out.txt", b"one")
        other = destination.write("out.txt", b"two")
    assert first["changed"] and not again["changed"] and other["changed"]
    assert stat.S_IMODE(os.stat(str(tmp_path / "out.txt")).st_mode) == 0o600
    assert (tmp_path / "out.txt").read_bytes() == b"two" and os.listdir(str(tmp_path)) == ["out.txt"]
    assert other["sha256"] == hashlib.sha256(b"two").hexdigest()


def test_check_mode_writes_nothing(tmp_path):
    with Destination(str(tmp_path / "absent"), check_mode=True, create=True) as destination:
        assert destination.write("out.txt", b"one")["changed"] is True
    assert not (tmp_path / "absent").exists()


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "out").mkdir()
    os.symlink(str(victim), str(tmp_path / "out" / "link"))
    with Destination(str(tmp_path / "out")) as destination:
        destination.write("link", b"new")
    assert victim.read_bytes() == b"keep" and not os.path.islink(str(tmp_path / "out" / "link"))


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "."])
def test_names_stay_inside(tmp_path, name):
    with Destination(str(tmp_path)) as destination:
        with pytest.raises(CheckpointError):
            destination.write(name, b"x")
    assert os.listdir(str(tmp_path)) == []


def test_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(str(tmp_path / "fifo"))
    with Destination(str(tmp_path)) as destination:
        with pytest.raises(CheckpointError) as err:
            destination.write("fifo", b"x")
    assert "not a regular file" in str(err.value)


def test_evidence_is_never_an_output(archives, tmp_path):
    archive = str(tmp_path / "evidence.tar.gz")
    with open(archives["lookup"], "rb") as fin, open(archive, "wb") as fout:
        fout.write(fin.read())
    os.link(archive, str(tmp_path / "hardlink"))
    before = sha256(archive)
    with Destination(str(tmp_path), protect=[archive]) as destination:
        for name in ("evidence.tar.gz", "hardlink"):
            with pytest.raises(CheckpointError) as err:
                destination.write(name, b"report")
            assert "evidence is never overwritten" in str(err.value)
    (tmp_path / "inputs").mkdir()
    with pytest.raises(CheckpointError) as err:
        Destination(str(tmp_path / "inputs" / "out"), create=True, protect=[str(tmp_path / "inputs")])
    assert "inside the input directory" in str(err.value)
    assert sha256(archive) == before


def test_checkpoint_analyze_report_over_its_own_archive_is_refused(archives, tmp_path):
    """Issue 16's most severe case: ``report: <the archive>`` replaced the evidence with the report."""
    archive = str(tmp_path / "evidence.tar.gz")
    with open(archives["lookup"], "rb") as fin, open(archive, "wb") as fout:
        fout.write(fin.read())
    before = sha256(archive)
    result = module_outputs.run_module("checkpoint_analyze", {"path": archive, "report": archive, "include": ["mounts"]})
    assert result["failed"] is True and "evidence is never overwritten" in result["msg"]
    assert sha256(archive) == before


@pytest.mark.parametrize("query", [{"read": {"pid": 1, "address": "0x7f5ea804e320", "length": 15}},
                                   {"write": {"pid": 1, "vma": "0x7f5ea804e320"}}])
def test_checkpoint_memory_dest_over_its_archive_is_refused(archives, tmp_path, query):
    archive = str(tmp_path / "evidence.tar")
    with open(archives["counters"], "rb") as fin, open(archive, "wb") as fout:
        fout.write(fin.read())
    before = sha256(archive)
    result = module_outputs.run_module("checkpoint_memory", dict(query, path=archive, dest=archive))
    assert result["failed"] is True and "evidence is never overwritten" in result["msg"]
    assert sha256(archive) == before and sorted(os.listdir(str(tmp_path))) == ["evidence.tar"]


def test_checkpoint_coredump_never_writes_into_its_input_tree(archives, tmp_path):
    """cores go through output.Destination too: a dest inside the root directory given is refused."""
    root = tmp_path / "root"
    root.mkdir()
    result = module_outputs.run_module("checkpoint_coredump", {"path": archives["counters"], "root": str(root),
                                                               "dest": str(root / "cores")})
    assert result["failed"] is True and "inside the input directory" in result["msg"]
    assert os.listdir(str(root)) == []
