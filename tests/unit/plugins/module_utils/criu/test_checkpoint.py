# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How often each archive-reading module reads an archive: a compressed stream once per run, a
plain tar by member offset (one header index, no stream).

Counted where the reads happen: every streaming pass over a compressed archive creates one
decompressor (CheckpointArchive._decompressor), every plain tar is indexed by _index_plain.
Exception, by design (criu/checkpoint.py): an archive whose pages images come before their
pagemaps (the kubelet's CRI-O layout) gets a second pass for those pages, because holding
decompressed pages until their pagemap arrives would not keep memory bounded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import zstandard

import repo_paths
import module_outputs
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import archive as archive_mod
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import file_sha256
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine as findings_engine


class _Counts(dict):
    """Read counts; ``scanned``: bytes of memory each window fed to the findings' scanner owned."""

    scanned = None


@pytest.fixture
def reads(monkeypatch):
    counts = _Counts(streams=0, plain_indexes=0)
    decompressor, index_plain = archive_mod.CheckpointArchive._decompressor, archive_mod.CheckpointArchive._index_plain
    feed = findings_engine._Scanner.feed  # pylint: disable=protected-access
    scanned = []

    def counted_feed(self, window):
        scanned.append(window.stop - window.start)
        return feed(self, window)

    def counted_decompressor(self, raw):
        counts["streams"] += 1
        return decompressor(self, raw)

    def counted_index_plain(self, visit):
        counts["plain_indexes"] += 1
        return index_plain(self, visit)

    monkeypatch.setattr(archive_mod.CheckpointArchive, "_decompressor", counted_decompressor)
    monkeypatch.setattr(archive_mod.CheckpointArchive, "_index_plain", counted_index_plain)
    monkeypatch.setattr(findings_engine._Scanner, "feed", counted_feed)  # pylint: disable=protected-access
    counts.scanned = scanned
    return counts


@pytest.fixture(scope="module")
def crio_zst(archives, tmp_path_factory):
    """The CRI-O archive (pages-1.img stored before pagemap-1.img) zstd-compressed."""
    path = str(tmp_path_factory.mktemp("crio") / "crio.tar.zst")
    with open(archives["crio"], "rb") as fin, open(path, "wb") as fout:
        zstandard.ZstdCompressor().copy_stream(fin, fout)
    return path


def memory_hits(result):
    return [item for item in result["analysis"]["findings"]
            if item["id"] == "indicator.match" and "memory" in item["evidence"]]


@pytest.mark.parametrize("key", ["counters_zst", "lookup", "lookup_later", "worker41"])
@pytest.mark.parametrize("checksum", [False, True])
def test_analyze_with_findings_streams_a_compressed_archive_once(archives, reads, key, checksum):
    """Index, rootfs-diff, argv/environ, the findings' memory scan and the checksum: one pass."""
    result = module_outputs.run_module("checkpoint_analyze", {"path": archives[key], "checksum": checksum})
    assert "failed" not in result
    assert reads == {"streams": 1, "plain_indexes": 0}
    # the memory was scanned, in that same pass: every dumped byte of every process
    assert sum(reads.scanned) == sum(proc["memory_size"] for proc in result["analysis"]["processes"]
                                     if proc.get("memory_size"))
    assert all(proc["argv"] for proc in result["analysis"]["processes"])
    if checksum:
        assert len(result["analysis"]["container"]["archive"]["sha256"]) == 64


def test_memory_hit_from_the_one_pass(archives, reads):
    result = module_outputs.run_module("checkpoint_analyze", {"path": archives["counters_zst"],
                                                              "indicators": ["RANDOM_1432_KEY"]})
    assert reads == {"streams": 1, "plain_indexes": 0}
    assert [item["address_hex"] for item in memory_hits(result)] == ["0x7f5ea804e320"]


def test_pages_before_their_pagemap_take_one_more_pass(archives, reads, crio_zst):
    result = module_outputs.run_module("checkpoint_analyze", {"path": crio_zst, "indicators": ["RANDOM_1432_KEY"]})
    assert reads == {"streams": 2, "plain_indexes": 0}
    assert memory_hits(result) and result["analysis"]["processes"][0]["cmdline"] == "python3 /app/counter.py"


@pytest.mark.parametrize("key", ["counters", "crio"])
def test_plain_tar_is_read_by_member_offset(archives, reads, key):
    result = module_outputs.run_module("checkpoint_analyze", {"path": archives[key], "indicators": ["RANDOM_1432_KEY"]})
    assert reads == {"streams": 0, "plain_indexes": 1}
    assert memory_hits(result)


@pytest.mark.parametrize("key", ["counters", "counters_zst"])
def test_memory_size_is_announced_before_the_first_window(archives, monkeypatch, key):
    """The findings' scanner hears how much memory is coming before any of it (plain tars too),
    so it compiles hyperscan at once past WARM_BYTES instead of starting on re (counters: 40 ms)."""
    events = []
    expect, feed = findings_engine._Scanner.expect, findings_engine._Scanner.feed  # pylint: disable=protected-access
    monkeypatch.setattr(findings_engine._Scanner, "expect",  # pylint: disable=protected-access
                        lambda self, size: events.append(("expect", size)) or expect(self, size))
    monkeypatch.setattr(findings_engine._Scanner, "feed",  # pylint: disable=protected-access
                        lambda self, window: events.append(("feed", window.stop - window.start)) or feed(self, window))
    result = module_outputs.run_module("checkpoint_analyze", {"path": archives[key]})
    size = sum(proc.get("memory_size") or 0 for proc in result["analysis"]["processes"])
    assert events[0] == ("expect", size) and size > 2 << 20
    assert [kind for kind, _size in events[1:]] == ["feed"] * (len(events) - 1)
    assert sum(scanned for _kind, scanned in events[1:]) == size


def test_diff_streams_each_archive_once(archives, reads):
    result = module_outputs.run_module("checkpoint_diff", {"before": archives["lookup"], "after": archives["lookup_later"]})
    assert "failed" not in result and reads == {"streams": 2, "plain_indexes": 0}


@pytest.mark.parametrize("args", [{"pattern": "RANDOM_1432_KEY"}, {"strings": {"min_length": 8}}, {}])
def test_memory_streams_once(archives, reads, args):
    result = module_outputs.run_module("checkpoint_memory", dict(args, path=archives["counters_zst"]))
    assert "failed" not in result and reads == {"streams": 1, "plain_indexes": 0}


def test_info_streams_once_with_its_checksum(archives, reads):
    result = module_outputs.run_module("checkpoint_info", {"path": archives["counters_zst"], "checksum": True})
    assert "failed" not in result and reads == {"streams": 1, "plain_indexes": 0}
    assert len(result["checkpoints"][0]["archive"]["sha256"]) == 64


def test_bigmem_in_one_pass(reads):
    """The 771 MiB zstd fixture: its 768 MiB of pages scanned by the findings in the one pass."""
    path = os.path.join(repo_paths.ARCHIVES, "bigmem-768m.tar.zst")
    result = module_outputs.run_module("checkpoint_analyze", {"path": path})
    assert reads == {"streams": 1, "plain_indexes": 0}
    assert sum(reads.scanned) == result["analysis"]["processes"][0]["memory_size"] > 768 << 20


@pytest.fixture
def rehashes(monkeypatch):
    """Calls of the whole-file hasher: reading an archive again just to hash it."""
    calls = []
    sha256_fd = archive_mod._sha256_fd  # pylint: disable=protected-access

    def counted(fd):
        calls.append(fd)
        return sha256_fd(fd)

    monkeypatch.setattr(archive_mod, "_sha256_fd", counted)
    return calls


@pytest.mark.parametrize("args", [{"pattern": "RANDOM_1432_KEY"}, {}])
def test_memory_checksum_comes_from_its_one_pass(archives, reads, rehashes, args):
    result = module_outputs.run_module("checkpoint_memory", dict(args, path=archives["counters_zst"], checksum=True))
    assert "failed" not in result and reads == {"streams": 1, "plain_indexes": 0} and rehashes == []
    assert result["archive_sha256"] == file_sha256(archives["counters_zst"])


def test_coredump_checksum_from_the_index_pass_and_pages_in_one_more(archives, reads, rehashes, tmp_path):
    """Compressed: the indexing pass hashes the archive; the pages stream by once more, because
    pstree.img (ids and threads for the headers) comes after them (see coredump/core.py)."""
    result = module_outputs.run_module("checkpoint_coredump", {"path": archives["counters_zst"], "dest": str(tmp_path)})
    assert "failed" not in result and reads == {"streams": 2, "plain_indexes": 0} and rehashes == []
    assert result["archive_sha256"] == file_sha256(archives["counters_zst"])


def test_coredump_of_a_plain_tar_reads_by_offset(archives, reads, rehashes, tmp_path):
    result = module_outputs.run_module("checkpoint_coredump", {"path": archives["counters"], "dest": str(tmp_path)})
    assert "failed" not in result and reads == {"streams": 0, "plain_indexes": 1} and len(rehashes) == 1
    assert result["archive_sha256"] == file_sha256(archives["counters"])
