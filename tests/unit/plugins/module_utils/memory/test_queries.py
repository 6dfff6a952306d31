# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memory/scan.py and memory/queries.py: search, read, strings and writes over real and rewritten checkpoints."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import gzip
import io
import os
import re
import shutil
import stat
import tarfile
import tracemalloc

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import hostile_archives as hostile
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import queries as memory_queries
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import multiscan
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import scan as memory_search
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PAGE_SIZE, PageMap
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.scan import (
    Query,
    Search,
    compile_query,
    feed,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.memory import query as run

KEY = "RANDOM_1432_KEY"
KEY_ADDRESS = 0x7F5EA804E320
HEAP = 0x6D10000
NEEDLE = "NEEDLE-7f3a9c-END-OF-HEAP"
BIGMEM = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "fixtures", "archives", "bigmem-768m.tar.zst")


def found(result):
    return [(m["pid"], m["address"], m["match"], m["context"], m["image_offset"]) for m in result["matches"]]


def write_tar(dest, members, compression=None, tar_format=tarfile.GNU_FORMAT):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tar_format) as tar:
        for info, data in members:
            info = copy.copy(info)
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    payload = raw.getvalue()
    if compression == "gz":
        payload = gzip.compress(payload, 1)
    elif compression == "zst":
        payload = zstandard.ZstdCompressor(level=1).compress(payload)
    with open(dest, "wb") as handle:
        handle.write(payload)
    return str(dest)


def forms(tmp_path, members, **kwargs):
    """The same members as plain, gzip and zstd archives."""
    return [write_tar(tmp_path / ("form.tar" + suffix), members, compression, **kwargs)
            for suffix, compression in (("", None), (".gz", "gz"), (".zst", "zst"))]


@pytest.fixture(scope="module")
def counters_members(archives):
    return hostile.load_members(archives["counters"])


# Five runs in the heap VMA: A (2 pages) and B (1) are contiguous in memory and in the file;
# C (1) follows B in the file but not in memory; then a parent run, then E (1). Strings are planted
# across a page boundary inside A, across the A/B entry boundary, and across the two file seams
# that are not contiguous in memory (those must never match).
LAYOUT = [(HEAP, 2, 4), (HEAP + 0x2000, 1, 4), (HEAP + 0x4000, 1, 4), (HEAP + 0x5000, 1, 1), (HEAP + 0x6000, 1, 4)]
PLANTED = {"PAGE-SEAM-MARK": 4096 - 6, "ENTRY-SEAM-MARK": 8192 - 7, "HOLE-SEAM-MARK": 12288 - 5,
           "PARENT-SEAM-MARK": 16384 - 4, "\x00\xffBIN\x01": 100}


def planted_members(counters_members, new_format=True):
    pages = bytearray(5 * PAGE_SIZE)
    for text, offset in PLANTED.items():
        pages[offset:offset + len(text)] = text.encode("latin-1")
    members = hostile.replace(counters_members, "checkpoint/pagemap-1.img",
                              hostile.pagemap(1, [run + (new_format,) for run in LAYOUT]))
    return hostile.replace(members, "checkpoint/pages-1.img", bytes(pages))


# -- the done-when assertions on real fixtures --------------------------------------------------


def test_key_in_counters_heap_or_anon_and_read_back(archives, tmp_path):
    result = run({"path": archives["counters"], "pattern": KEY})
    (match,) = result["matches"]
    assert match["pid"] == 1 and match["address"] == KEY_ADDRESS and match["address_hex"] == "0x7f5ea804e320"
    assert match["vma"]["kind"] in ("heap", "anon") and match["vma"]["perms"] == "rw-p"
    assert match["vma"]["start"] <= match["address"] < match["address"] + match["length"] <= match["vma"]["end"]
    assert match["match"] == KEY and KEY in match["context"] and match["image"] == "checkpoint/pages-1.img"
    with open(archives["counters"], "rb") as raw:  # the image offset is where the bytes really are
        member = CheckpointArchive(archives["counters"]).member(match["image"])
        raw.seek(member.offset + match["image_offset"])
        assert raw.read(len(KEY)) == KEY.encode()
    read = run({"path": archives["counters"], "read": {"pid": 1, "address": match["address_hex"], "length": match["length"]}})
    assert read["read"]["hexdump"] == ["00007f5ea804e320  52 41 4e 44 4f 4d 5f 31  34 33 32 5f 4b 45 59     |RANDOM_1432_KEY|"]
    dest = tmp_path / "key.bin"
    written = run({"path": archives["counters_zst"], "dest": str(dest),
                   "read": {"pid": 1, "address": match["address"], "length": match["length"]}})
    assert written["changed"] and dest.read_bytes() == KEY.encode() and written["read"]["missing"] == []
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600


@pytest.mark.parametrize("key", ["counters", "crio", "counters_zst"])
def test_same_matches_from_every_form_of_an_archive(archives, tmp_path, key):
    plain = run({"path": archives["counters"], "regex": "RANDOM_[0-9]+_KEY|/secret\\?[A-Z_0-9]+", "context": 8})
    gz = shutil.copy(archives["counters"], str(tmp_path / "c.tar"))
    with open(gz, "rb") as fin, gzip.open(gz + ".gz", "wb", compresslevel=1) as fout:
        shutil.copyfileobj(fin, fout)
    other = run({"path": archives[key], "regex": "RANDOM_[0-9]+_KEY|/secret\\?[A-Z_0-9]+", "context": 8})
    gzipped = run({"path": gz + ".gz", "regex": "RANDOM_[0-9]+_KEY|/secret\\?[A-Z_0-9]+", "context": 8})
    assert found(plain) == found(other) == found(gzipped) and plain["matches"]
    assert plain["processes"] == other["processes"] == gzipped["processes"]


@pytest.fixture(scope="module")
def bigmem(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bigmem") / "bigmem.tar")
    with open(BIGMEM, "rb") as fin, open(path, "wb") as fout:
        zstandard.ZstdDecompressor().copy_stream(fin, fout)
    yield path
    os.unlink(path)


def test_bigmem_marker_at_the_end_and_across_512_mib(bigmem):
    result = run({"path": bigmem, "pattern": NEEDLE, "context": 0})
    (proc,) = result["processes"]
    buffer_vma = max(proc["vmas"], key=lambda vma: vma["size"])
    assert buffer_vma["kind"] == "anon" and buffer_vma["size"] > 768 << 20
    inside = [m for m in result["matches"] if m["vma"] == dict((k, buffer_vma[k]) for k in m["vma"])]
    offsets = sorted(m["address"] - buffer_vma["start"] for m in inside)
    # The buffer (a bytearray) starts after glibc's 16-byte header of its mmap'ed chunk: one copy
    # straddles 512 MiB into the buffer, the other lies near the buffer's end.
    assert len(offsets) == 2
    buffer_offset = offsets[0] - 16
    assert buffer_offset < 512 << 20 < buffer_offset + len(NEEDLE)
    assert buffer_vma["size"] - offsets[1] < 64 << 10
    for match in result["matches"]:  # every address agrees with the VMA list
        vma = match["vma"]
        assert vma["start"] <= match["address"] and match["address"] + len(NEEDLE) <= vma["end"]
    read = run({"path": bigmem, "read": {"pid": 1, "address": inside[0]["address"], "length": len(NEEDLE)}})
    assert "".join(line.split("|")[1] for line in read["read"]["hexdump"]) == NEEDLE
    streamed = run({"path": BIGMEM, "pattern": NEEDLE, "context": 0})
    assert found(streamed) == found(result)


# -- boundaries: pages, pagemap entries, holes, windows -----------------------------------------


@pytest.mark.parametrize("new_format", [True, False])
def test_matches_cross_pages_and_entries_but_never_holes(counters_members, tmp_path, new_format):
    results = []
    for path in forms(tmp_path, planted_members(counters_members, new_format)):
        result = run({"path": path, "regex": "[A-Z]{4,}-SEAM-MARK", "context": 4, "max_matches": 10})
        results.append(found(result))
        assert [(m["address"], m["match"]) for m in result["matches"]] == [
            (HEAP + 4090, "PAGE-SEAM-MARK"), (HEAP + 0x2000 - 7, "ENTRY-SEAM-MARK")]
        assert all(m["vma"]["kind"] == "heap" for m in result["matches"])
        # The parent run's bytes are not in this dump: reported, and read as zeros with a note.
        assert result["processes"][0]["parent_size"] == PAGE_SIZE
        assert any("parent checkpoint" in warning for warning in result["warnings"])
    assert results[0] == results[1] == results[2]


def test_hex_and_binary_matches(counters_members, tmp_path):
    for path in forms(tmp_path, planted_members(counters_members)):
        for query in ({"hex": "00 ff 42 49 4e 01"}, {"hex": "\\x00\\xff\\x42\\x49\\x4e\\x01"}, {"regex": "\\x00\\xffB"}):
            result = run(dict(query, path=path, context=2))
            assert [m["address"] for m in result["matches"]] == [HEAP + 100], query
        # A pattern is UTF-8 text: U+00FF is two bytes, not the byte 0xff.
        assert run({"path": path, "pattern": "\x00\xffBIN"})["matches"] == []
        assert run({"path": path, "hex": "00:FF:42:49:4E:01"})["matches"][0]["match"] == "\\x00\\xffBIN\\x01"


def test_ignore_case(archives):
    result = run({"path": archives["counters"], "pattern": "random_1432_key", "ignore_case": True})
    assert [m["match"] for m in result["matches"]] == [KEY]
    assert found(run({"path": archives["counters"], "regex": "random_1432_key", "ignore_case": True})) == found(result)
    mixed = run({"path": archives["counters"], "pattern": "PyThOn3.11", "ignore_case": True, "max_matches": 10000})
    expected = run({"path": archives["counters"], "regex": "(?i)python3\\.11", "max_matches": 10000})
    assert found(mixed) == found(expected) and len(expected["matches"]) > 1
    assert run({"path": archives["counters"], "pattern": "random_1432_key"})["matches"] == []


@pytest.mark.parametrize("window", [4099, 65536])
def test_small_windows_find_the_same(archives, monkeypatch, window):
    params = {"path": archives["counters"], "regex": "(?i)python3\\.1[0-9]|RANDOM_[0-9]+", "context": 50,
              "max_matches": 100000}
    expected = run(params)
    literal = run({"path": archives["counters"], "pattern": "python", "context": 7, "max_matches": 100000})
    monkeypatch.setattr(memory_search, "WINDOW", window)
    monkeypatch.setattr(memory_search, "REGEX_SPAN", 300)  # the look-ahead each window rescans
    assert found(run(params)) == found(expected) and len(expected["matches"]) > 10
    assert found(run({"path": archives["counters"], "pattern": "python", "context": 7, "max_matches": 100000})) == found(literal)


def _reference(data, segments, literal, context):
    out = []
    for vaddr, offset, length in segments:
        chunk = data[offset:offset + length]
        for match in re.finditer(re.escape(literal), chunk):
            low, high = max(0, match.start() - context), min(length, match.end() + context)
            out.append((vaddr + match.start(), chunk[low:high]))
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=1, max_size=600).map(lambda b: bytes(x % 3 for x in b)),
       cuts=st.lists(st.integers(1, 599), max_size=8), literal=st.binary(min_size=1, max_size=4).map(
           lambda b: bytes(x % 3 for x in b)), window=st.integers(1, 50), context=st.integers(0, 6))
def test_windows_agree_with_a_whole_segment_search(data, cuts, literal, window, context):
    edges = sorted(set([0, len(data)] + [c for c in cuts if c < len(data)]))
    segments = [(0x10000 * (i + 1), start, end - start) for i, (start, end) in enumerate(zip(edges, edges[1:]))]
    original = memory_search.WINDOW
    memory_search.WINDOW = window
    try:
        search = Search(Query(multiscan.Pattern("pattern", literal=literal)), context=context, max_matches=10 ** 6)
        feed(lambda view, offset: _copy(data, view, offset), [s + (1,) for s in segments], [search], "pages")
        regex = Search(Query(multiscan.Pattern("regex", regex=re.escape(literal)), span=len(literal)), context=context, max_matches=10 ** 6)
        feed(lambda view, offset: _copy(data, view, offset), [s + (1,) for s in segments], [regex], "pages")
    finally:
        memory_search.WINDOW = original
    expected = _reference(data, segments, literal, context)
    assert [(m["address"], m["context"]) for m in search.matches] == expected
    assert [(m["address"], m["context"]) for m in regex.matches] == expected


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=600), cuts=st.lists(st.integers(1, 599), max_size=6),
       ranges=st.lists(st.tuples(st.integers(0x10000, 0x80000), st.integers(1, 0x11000)), min_size=1, max_size=4),
       window=st.integers(1, 40))
def test_copies_agree_with_the_segments(data, cuts, ranges, window):
    edges = sorted(set([0, len(data)] + [c for c in cuts if c < len(data)]))
    segments = [(0x10000 * (i + 1) + 7 * i, start, end - start) for i, (start, end) in enumerate(zip(edges, edges[1:]))]
    targets = [(start, start + length, memory_queries._Buffer(start, length)) for start, length in ranges]  # pylint: disable=protected-access
    copy = memory_search.Copy(1, targets)
    search = Search(Query(multiscan.Pattern("pattern", literal=data[:3])), context=2, max_matches=10 ** 6)  # fed alongside: windows are shared
    original = memory_search.WINDOW
    memory_search.WINDOW = window
    try:
        pagemap = PageMap(1, [], "pages", len(data))
        pagemap.segments = lambda: iter(segments)
        pieces = memory_search.plan([pagemap], [copy])
        feed(lambda view, offset: _copy(data, view, offset), pieces, [copy, search], "p")
    finally:
        memory_search.WINDOW = original
    for start, end, sink in targets:
        expected = bytearray(end - start)
        for vaddr, offset, length in segments:
            low, high = max(start, vaddr), min(end, vaddr + length)
            if low < high:
                expected[low - start:high - start] = data[offset + low - vaddr:offset + high - vaddr]
        assert sink.data == expected
    # The search saw exactly the clipped pieces the copy asked for.
    assert [(m["address"], m["context"]) for m in search.matches] == _reference(
        data, sorted(piece[:3] for piece in pieces), data[:3], 2)


def _copy(data, view, offset):
    chunk = data[offset:offset + len(view)]
    view[:len(chunk)] = chunk
    return len(chunk)


def test_pagemap_after_its_pages_in_a_compressed_archive(counters_members, tmp_path):
    members = planted_members(counters_members)
    pagemap = [m for m in members if m[0].name.endswith("pagemap-1.img")]
    reordered = [m for m in members if m not in pagemap] + pagemap  # pages image first
    for path in forms(tmp_path, reordered):
        result = run({"path": path, "pattern": "ENTRY-SEAM-MARK"})
        assert [m["address"] for m in result["matches"]] == [HEAP + 0x2000 - 7], path


def test_pax_headers_and_long_names(counters_members, tmp_path):
    extra = tarfile.TarInfo("artifacts/" + "n" * 300 + "-é.txt")
    extra.size = 3
    extra.pax_headers = {"SCHILY.xattr.user." + "k" * 120: "v" * 50}  # ignored by GNU_FORMAT
    members = [(extra, b"abc")] + planted_members(counters_members)
    for tar_format in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        results = [found(run({"path": path, "pattern": "PAGE-SEAM-MARK"}))
                   for path in forms(tmp_path, members, tar_format=tar_format)]
        assert results[0] == results[1] == results[2] and len(results[0]) == 1


def test_max_matches_and_truncated(archives, monkeypatch):
    result = run({"path": archives["counters"], "pattern": "python", "max_matches": 3})
    assert len(result["matches"]) == 3 and result["truncated"]
    assert not run({"path": archives["counters"], "pattern": KEY})["truncated"]
    monkeypatch.setattr(memory_search, "RESULT_BUDGET", 5000)  # results are bounded in returned bytes too (4 per byte + 256 per match)
    result = run({"path": archives["counters"], "pattern": "python", "context": 100, "max_matches": 1000})
    assert result["truncated"] and len(result["matches"]) == 5


def test_pid_filter(archives):
    everyone = run({"path": archives["lookup"], "pattern": "wJalrXUtnFEMI/K7MDENG", "max_matches": 1000})
    assert sorted(set(m["pid"] for m in everyone["matches"])) == [1, 15, 16, 20]
    only = run({"path": archives["lookup"], "pattern": "wJalrXUtnFEMI/K7MDENG", "pid": 16})
    assert [m["pid"] for m in only["matches"]] == [m["pid"] for m in everyone["matches"] if m["pid"] == 16]
    assert [p["pid"] for p in only["processes"]] == [16]


def test_criu_41_archive(archives):
    result = run({"path": archives["worker41"], "pattern": "OLD_CRIU_SECRET_5521", "pid": 6})
    assert result["matches"] and all(m["vma"]["kind"] in ("heap", "anon", "stack") for m in result["matches"])


def test_strings(archives):
    result = run({"path": archives["counters"], "strings": {"min_length": 15, "max_strings": 10 ** 6}})
    assert {"pid": 1, "address": KEY_ADDRESS, "address_hex": "0x7f5ea804e320", "string": KEY} in result["strings"]
    assert all(len(s["string"]) >= 15 for s in result["strings"]) and not result["truncated"]
    capped = run({"path": archives["counters_zst"], "strings": {"min_length": 15, "max_strings": 5}})
    assert capped["strings"] == result["strings"][:5] and capped["truncated"]


# -- writing to dest ----------------------------------------------------------------------------


def test_write_one_vma_and_a_whole_process(archives, tmp_path):
    dest = tmp_path / "anon.bin"
    one = run({"path": archives["counters"], "write": {"pid": 1, "vma": hex(KEY_ADDRESS)}, "dest": str(dest)})
    (entry,) = one["written"]
    assert one["changed"] and entry["file"] == str(dest) and entry["kind"] == "anon"
    data = dest.read_bytes()
    assert len(data) == entry["size"] and data[KEY_ADDRESS - entry["start"]:][:len(KEY)] == KEY.encode()
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600

    where = tmp_path / "pid1"
    everything = run({"path": archives["counters_zst"], "write": {"pid": 1}, "dest": str(where)})
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o700
    names = sorted(os.listdir(where))
    assert names == sorted(os.path.basename(e["file"]) for e in everything["written"])
    assert all(re.match(r"^[0-9a-f]{16}-[0-9a-f]{16}\.bin$", name) for name in names)
    assert sum(e["dumped_size"] for e in everything["written"]) == everything["processes"][0]["dumped_size"]
    key_file = "%016x-%016x.bin" % (entry["start"], entry["end"])
    assert (where / key_file).read_bytes() == data
    for name in names:
        assert stat.S_IMODE(os.stat(where / name).st_mode) == 0o600


def test_check_mode_writes_nothing(archives, tmp_path):
    result = run({"path": archives["counters"], "write": {"pid": 1}, "dest": str(tmp_path / "d")}, check_mode=True)
    assert result["changed"] and result["written"] and not os.path.exists(tmp_path / "d")
    result = run({"path": archives["counters"], "read": {"pid": 1, "address": KEY_ADDRESS, "length": 15},
                  "dest": str(tmp_path / "f")}, check_mode=True)
    assert result["changed"] and not os.path.exists(tmp_path / "f")


def test_dest_symlinks_are_replaced_not_followed(archives, tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    link = tmp_path / "link.bin"
    link.symlink_to(outside)
    run({"path": archives["counters"], "read": {"pid": 1, "address": KEY_ADDRESS, "length": 15}, "dest": str(link)})
    assert outside.read_bytes() == b"keep" and not link.is_symlink() and link.read_bytes() == KEY.encode()
    (tmp_path / "realdir").mkdir()
    (tmp_path / "dirlink").symlink_to(tmp_path / "realdir")
    with pytest.raises(CheckpointError, match="^dest: .*dirlink is not a usable directory"):
        run({"path": archives["counters"], "write": {"pid": 1}, "dest": str(tmp_path / "dirlink")})
    assert os.listdir(tmp_path / "realdir") == []
    assert sorted(os.listdir(tmp_path)) == ["dirlink", "link.bin", "outside", "realdir"]  # no temporary left


# -- parent checkpoints -------------------------------------------------------------------------


def _child_with_key_in_parent(archives, counters_members):
    """counters with the run holding the key marked PE_PARENT and its pages left out."""
    with CheckpointArchive(archives["counters"]) as archive:
        pagemap = PageMap.load(archive, 1)
        pages = archive.read("checkpoint/pages-1.img", limit=1 << 30)
    runs, data = [], []
    for run_ in pagemap.runs:
        in_parent = run_.vaddr <= KEY_ADDRESS < run_.end
        runs.append((run_.vaddr, run_.nr_pages, 1 if in_parent else 4, True))
        if not in_parent:
            data.append(pages[run_.offset:run_.offset + run_.size])
    members = hostile.replace(counters_members, "checkpoint/pagemap-1.img", hostile.pagemap(1, runs))
    return hostile.replace(members, "checkpoint/pages-1.img", b"".join(data))


def test_parent_pages(archives, counters_members, tmp_path):
    child = write_tar(tmp_path / "child.tar.zst", _child_with_key_in_parent(archives, counters_members), "zst")
    alone = run({"path": child, "pattern": KEY})
    assert alone["matches"] == [] and alone["processes"][0]["parent_size"] > 0
    assert any("parent checkpoint" in w for w in alone["warnings"])
    with_parent = run({"path": child, "parent": archives["counters"], "pattern": KEY})
    assert [(m["address"], m["source"]) for m in with_parent["matches"]] == [(KEY_ADDRESS, "parent")]
    read = run({"path": child, "read": {"pid": 1, "address": KEY_ADDRESS, "length": 15}})
    assert read["read"]["missing"] == [{"address": KEY_ADDRESS, "address_hex": hex(KEY_ADDRESS), "length": 15,
                                        "state": "parent"}]
    read = run({"path": child, "parent": archives["counters_zst"], "read": {"pid": 1, "address": KEY_ADDRESS, "length": 15}})
    assert read["read"]["missing"] == [] and "|RANDOM_1432_KEY|" in read["read"]["hexdump"][0]


# -- bad input: one line naming the image or option, no huge allocation -------------------------


def _one_line(exc_info, pattern):
    message = str(exc_info.value)
    assert "\n" not in message and re.search(pattern, message), message


@pytest.mark.parametrize("compression", [None, "zst"])
def test_pagemap_past_the_pages_image(counters_members, tmp_path, compression):
    members = hostile.replace(counters_members, "checkpoint/pagemap-1.img",
                              hostile.pagemap(1, [(HEAP, 2, 4, True), (HEAP + 0x2000, 4000, 4, True)]))
    members = hostile.replace(members, "checkpoint/pages-1.img", bytes(3 * PAGE_SIZE))
    path = write_tar(tmp_path / "past.tar", members, compression)
    with pytest.raises(CheckpointError) as exc:
        run({"path": path, "pattern": KEY})
    _one_line(exc, r"^checkpoint/pagemap-1\.img: entry 1 points past the end of the pages image")


@pytest.mark.parametrize("compression", [None, "gz"])
def test_absurd_page_count_allocates_nothing(counters_members, tmp_path, compression):
    members = hostile.replace(counters_members, "checkpoint/pagemap-1.img", hostile.pagemap(1, [(HEAP, 1 << 44, 4, True)]))
    path = write_tar(tmp_path / "absurd.tar", members, compression)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as exc:
            run({"path": path, "read": {"pid": 1, "address": HEAP, "length": 16}})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_line(exc, r"^checkpoint/pagemap-1\.img: entry 0 (is impossible|points past the end)")
    assert peak < 64 << 20


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
def test_missing_pages_image(counters_members, tmp_path, compression):
    path = write_tar(tmp_path / "nopages.tar", hostile.without(counters_members, "checkpoint/pages-1.img"), compression)
    for params in ({"pattern": KEY}, {}, {"strings": {}}):
        with pytest.raises(CheckpointError) as exc:
            run(dict(params, path=path))
        _one_line(exc, r"^checkpoint/pagemap-1\.img: its pages image checkpoint/pages-1\.img is missing$")


def test_truncated_compressed_archive(archives, tmp_path):
    data = open(archives["counters_zst"], "rb").read()
    path = tmp_path / "cut.tar.zst"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        run({"path": str(path), "pattern": KEY})
    _one_line(exc, r"cut\.tar\.zst: (truncated zstd archive|corrupt zstd data)")


@pytest.mark.parametrize("params,pattern", [
    ({"regex": "(unclosed"}, r"^regex: invalid regular expression \(missing \), unterminated subpattern"),
    ({"regex": "a*"}, r"^regex: matches the empty string"),
    ({"hex": "0xZZ"}, r"^hex: not a sequence of hexadecimal bytes"),
    ({"pattern": "x", "regex": "y"}, r"^pattern: give exactly one of pattern, hex or regex \(got pattern, regex\)$"),
    ({"pattern": "x", "strings": {}}, r"^strings: give only one of"),
    ({"pattern": "x", "context": -1}, r"^context: must be between 0 and 4096"),
    ({"read": {"pid": 1, "address": "nowhere"}}, r"^read\.address: not an address"),
    ({"read": {"pid": 1, "address": 0, "length": 2 << 20}}, r"^read\.length: must be between 1 and 1048576"),
    ({"read": {"address": 0}}, r"^read\.pid: is required"),
    ({"write": {"pid": 1}}, r"^write: needs dest"),
    ({"write": {"pid": 1, "vma": 16}, "dest": "/nonexistent-dir/x"}, r"^write\.vma: no VMA of pid 1 holds"),
    ({"pattern": "x", "dest": "/tmp/x"}, r"^dest: is only used with read or write"),
    ({"pid": 42}, r"^pid: no process 42 in this checkpoint"),
])
def test_bad_options(archives, params, pattern):
    with pytest.raises(CheckpointError) as exc:
        run(dict(params, path=archives["counters"]))
    _one_line(exc, pattern)


def test_compile_query_forms():
    assert compile_query(pattern="abc").literal == b"abc"
    assert compile_query(hex="0x61 0x62").literal == b"ab"
    assert compile_query(regex="a.c").regex.pattern == b"a.c"
    folded = compile_query(pattern="AbC", ignore_case=True)
    assert folded.literal == b"abc" and folded.fold
