# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, wrong results and escaping: every process shows in the report's tree (ppid cycles,
orphans, chains deeper than the tree shows); a deleted file's declared size and the bytes present
are apart (recoverable only when complete); every message escapes control, C1, bidi and
undecodable characters (one helper, text.escape)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import importlib.util
import io
import json
import os
import random
import tarfile

import pytest

import hostile_round2 as h2
import module_outputs
from ansible_collections.forensic.checkpoint.plugins.module_utils.report.document import (
    analysis_document, to_html, to_markdown)
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape

_GHOSTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "analysis",
                       "test_analyze_ghosts.py")


def _ghost_builders():
    """The CRIU image builders of test_analyze_ghosts (pycriu messages), reused."""
    spec = importlib.util.spec_from_file_location("ghost_builders", _GHOSTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _procs(links):
    return [{"pid": pid, "ppid": ppid, "comm": "p%d" % pid, "uid": 0} for pid, ppid in links]


def _shown(doc):
    pids = []

    def walk(nodes):
        for node in nodes:
            pids.append(int(node["label"].split()[1]))
            walk(node["children"])
    for _title, blocks in doc["sections"] if isinstance(doc, dict) else doc:
        for block in blocks:
            if block[0] == "tree":
                walk(block[1])
    return pids


def _trees():
    rng = random.Random(16)
    ring = rng.sample(range(2, 50000), 7)
    yield "cycle", _procs([(pid, ring[i - 1]) for i, pid in enumerate(ring)])
    yield "self-parent", _procs([(5, 5), (6, 5)])
    yield "orphans", _procs([(1, 0), (7, 999), (8, 7), (9, 12345)])
    yield "cycle-and-tree", _procs([(1, 0), (2, 1), (3, 4), (4, 3), (5, 3)])
    yield "deep-chain", _procs([(1, 0)] + [(pid, pid - 1) for pid in range(2, 3000)])


@pytest.mark.parametrize("case", [name for name, _procs in _trees()])
def test_every_process_is_in_the_report_tree(case):
    processes = dict(_trees())[case]
    doc = analysis_document({"processes": processes}, None)
    blocks = [block for _title, section in doc_sections(doc) for block in section if block[0] == "tree"]
    assert blocks
    shown = []

    def walk(nodes):
        for node in nodes:
            shown.append(int(node["label"].split()[1]))
            walk(node["children"])
    walk(blocks[0][1])
    assert sorted(shown) == sorted(proc["pid"] for proc in processes)
    html, markdown = to_html(doc), to_markdown(doc)
    for proc in processes:
        assert "pid %d " % proc["pid"] in html and "pid %d " % proc["pid"] in markdown


def doc_sections(doc):
    return doc["sections"] if isinstance(doc, dict) else doc


@pytest.mark.parametrize("declared,payload", [(100 << 30, b"four"), (250 << 20, b"x"), (4097, b"a" * 4096)])
def test_a_ghost_shorter_than_declared_is_not_recoverable(archives, tmp_path, declared, payload):
    builders = _ghost_builders()
    entry = builders.pb.ghost_file_entry(uid=0, gid=0, mode=0o100755, size=declared)
    image = builders.image("GHOST_FILE", [entry.SerializeToString()], payload)
    path = str(tmp_path / "short-ghost.tar")
    extra = {"checkpoint/remap-fpath.img": builders.image("REMAP_FPATH", [builders.remap(builders.BUSYBOX_ID, 2)]),
             "checkpoint/ghost-file-2.img": image}
    with gzip.open(archives["lookup"]) as raw, tarfile.open(fileobj=raw, mode="r|") as tin, \
            tarfile.open(path, "w") as tout:
        for info in tin:
            data = extra.pop(info.name, tin.extractfile(info).read() if info.isfile() else None)
            if data is not None:
                info.size = len(data)
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    before = h2.sha256(path)
    export = tmp_path / "export"
    result = module_outputs.run_module("checkpoint_analyze", {"path": path, "include": ["processes", "files"],
                                                              "export_dir": str(export), "export": ["recovered"]})
    assert not result.get("failed"), result.get("msg")
    exe = [f for proc in result["analysis"]["processes"] if proc["pid"] == 15 for f in proc["files"]
           if f["fd"] == "exe"][0]
    assert (exe["recoverable"], exe["size"], exe["bytes_present"], exe["sha256"]) == \
        (False, declared, len(payload), None)
    assert str(len(payload)) in exe["reason"] and str(declared) in exe["reason"]
    assert h2.files_below(str(export)) == [] if export.exists() else True  # nothing recovered from it
    assert h2.sha256(path) == before


HOSTILE = ["a\nb", "\x1b[2J", "x\ry", "\x00\x07\x7f", "\x85\x9b31m", "\u202eexe.txt", "\u2066i\u2069",
           "zero\u200bwidth", "line\u2028sep", "bad\udcffbyte", "tab\there"]


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_leaves_no_control_character(text):
    out = escape(text)
    assert all(ch.isprintable() and ch not in "\u200b\u202e\u2066\u2069" for ch in out), repr(out)
    assert escape(out) == out or "\\" in out  # escapes are visible text


def test_module_messages_are_escaped(tmp_path):
    """A path with a newline, ESC[2J and a bidi override: the failure is one visible line."""
    name = str(tmp_path / "evil\n\x1b[2J\u202egz.rat")
    result = module_outputs.run_module("checkpoint_info", {"path": name})
    assert result["failed"] and "\n" not in result["msg"] and "\x1b" not in result["msg"]
    assert "\\n\\x1b[2J\\u202egz.rat" in result["msg"]


def test_warnings_carry_escaped_names(archives, tmp_path):
    """Attacker names in deleted.files reach warnings and the report escaped (JSON keeps the data)."""
    names = ["/tmp/\x1b[2J\nforged", "/etc/\u202eissue"]
    archive = h2.build(archives["lookup"], str(tmp_path / "names.tar"),
                       lambda members: h2.with_json(members, "deleted.files", ["/etc/issue"] + names + [5, {"a": 1}]))
    result = module_outputs.run_module("checkpoint_analyze", {"path": archive, "include": ["rootfs"],
                                                              "report": str(tmp_path / "r.md"),
                                                              "report_format": "markdown"})
    assert not result.get("failed"), result.get("msg")
    for warning in result.get("warnings", []):
        assert "\x1b" not in warning and "\n" not in warning and "\u202e" not in warning
    with open(str(tmp_path / "r.md")) as handle:
        report = handle.read()
    assert "\x1b" not in report and "\u202e" not in report
    json.dumps(result)
