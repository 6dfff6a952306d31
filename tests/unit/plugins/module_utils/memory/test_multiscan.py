# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memory/multiscan.py: many patterns in one pass over real process memory and built runs,
checked against Python's re over the same bytes, on both backends."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import os
import re
import shutil
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine as findings
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import multiscan
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.multiscan import Pattern
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap, process_ids

BACKENDS = ["auto", "python"] if multiscan.HAS_HYPERSCAN else ["python"]
KEY = b"RANDOM_1432_KEY"
KEY_ADDRESS = 0x7F5EA804E320
TOKEN = b"ghp_R4nd0mT0k3nV4lu3F0rF0r3ns1csTest01"
AWS_KEY = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRET_RULES = [rule for rule in findings.BUILTIN_RULES
                if rule.get("pattern") and "memory" in (rule.get("scope") or findings.SCOPES)]


def compile_patterns(patterns, backend="auto", **kwargs):
    """A Scanner on ``backend``: "auto" compiles hyperscan's database at once (by itself it waits
    until WARM_BYTES have been scanned, which small test inputs never reach)."""
    scanner = multiscan.compile_patterns(patterns, backend=backend, **kwargs)
    scanner.compile()
    return scanner


def memory_runs(path, pids=None):
    """(base, chunks) for every pagemap segment of a plain tar, read in pieces of odd sizes so
    chunk boundaries fall everywhere; also the whole segments, for the reference."""
    archive = CheckpointArchive(path)
    segments = []
    for pid in process_ids(archive):
        if pids is not None and pid not in pids:
            continue
        pagemap = PageMap.load(archive, pid)
        base = archive.member(pagemap.pages).offset
        for vaddr, offset, length in pagemap.segments():
            segments.append((pid, vaddr, os.pread(archive.fileno(), length, base + offset)))
    archive.close()
    return segments


def chunked(segments, size):
    return [(vaddr, [data[i:i + size] for i in range(0, len(data), size)]) for _pid, vaddr, data in segments]


def reference(patterns, runs):
    """Each pattern's re.finditer over each whole run: runs in order, in address order within a
    run (ties: pattern order)."""
    out = []
    for vaddr, data in runs:
        hits = sorted((vaddr + match.start(), index, pattern.id, vaddr + match.end())
                      for index, pattern in enumerate(patterns) for match in pattern.regex.finditer(data))
        out.extend((start, name, end) for start, _index, name, end in hits)
    return out


def found(scan):
    return [(hit.start, hit.pattern, hit.end) for hit in scan]


@pytest.fixture(scope="module")
def lookup_tar(archives, tmp_path_factory):
    """The gzip lookup archive as a plain tar, so its pages can be read in place."""
    dest = str(tmp_path_factory.mktemp("multiscan") / "lookup.tar")
    with gzip.open(archives["lookup"], "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
    return dest


@pytest.mark.parametrize("backend", BACKENDS)
def test_counters_key_found_where_it_is_across_any_chunking(archives, backend):
    segments = memory_runs(archives["counters"])
    scanner = compile_patterns([Pattern("key", literal=KEY), Pattern("key-ci", literal=KEY.lower(), ignore_case=True),
                                Pattern("key-hex", hex=KEY.hex())], backend=backend)
    expected = None
    for size in (4093, 1 << 16, 8 << 20):
        got = found(scanner.scan(chunked(segments, size), context=8))
        assert expected is None or got == expected
        expected = got
    starts = [start for start, name, _end in expected if name == "key"]
    assert KEY_ADDRESS in starts
    # every occurrence python finds in the whole segments, no more, each for all three patterns
    whole = sorted(vaddr + m.start() for _pid, vaddr, data in segments for m in re.finditer(re.escape(KEY), data))
    assert starts == whole
    assert [start for start, name, _end in expected if name == "key-ci"] == whole
    assert [start for start, name, _end in expected if name == "key-hex"] == whole


@pytest.mark.parametrize("backend", BACKENDS)
def test_lookup_secrets_match_re_over_whole_segments(lookup_tar, backend):
    segments = memory_runs(lookup_tar)
    patterns = [Pattern(rule["id"], regex=rule["pattern"]) for rule in SECRET_RULES]
    scanner = compile_patterns(patterns, backend=backend)
    if backend == "auto":  # lookaround rules go to hyperscan as prefilters, none to Python alone
        assert set(scanner.backends.values()) <= {"hyperscan", "hyperscan-prefilter"}
    got = [(hit.start, hit.pattern, hit.end, hit.data) for hit in scanner.scan(chunked(segments, 5000), context=60)]
    expect = reference(patterns, [(vaddr, data) for _pid, vaddr, data in segments])
    assert [(start, name, end) for start, name, end, _data in got] == expect
    tokens = [data for _start, name, _end, data in got if name == "secret.github-token"]
    assert tokens.count(TOKEN) >= 3
    keys = [data for _start, name, _end, data in got if name == "secret.aws-secret-key"]
    assert keys and all(AWS_KEY in data for data in keys)


def test_groups_and_context_come_with_each_hit():
    rule = [r for r in SECRET_RULES if r["id"] == "secret.aws-secret-key"][0]
    planted = b"x" * 5000 + b'AWS_SECRET_ACCESS_KEY="' + AWS_KEY + b'"\n' + b"y" * 5000
    for backend in BACKENDS:
        scanner = compile_patterns([Pattern("aws", regex=rule["pattern"])], backend=backend)
        hits = list(scanner.scan([(0x1000, [planted[:5010], planted[5010:5030], planted[5030:]])], context=16))
        assert len(hits) == 1
        hit = hits[0]
        assert planted[hit.group[0] - 0x1000:hit.group[1] - 0x1000] == AWS_KEY
        assert hit.context == planted[hit.start - 0x1000 - 16:hit.end - 0x1000 + 16]
        assert hit.context_start == hit.start - 16


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_straddling_chunks_blocks_and_runs(backend, monkeypatch):
    """Small blocks force the block hand-over (look-behind, owned part, look-ahead) many times."""
    monkeypatch.setattr(multiscan, "BLOCK", 1000)
    needle = b"NEEDLE-7f3a9c"
    data = bytearray(b"." * 20000)
    spots = [0, 987, 1000, 1013, 1500, 3333, 19987]  # touching, across the 1000-byte blocks
    for spot in spots:
        data[spot:spot + len(needle)] = needle
    patterns = [Pattern("lit", literal=needle), Pattern("re", regex=br"NEE[D]LE-[0-9a-f]{6}"),
                Pattern("long", regex=br"N[^.]{5,20}c")]
    scanner = compile_patterns(patterns, max_width=512, backend=backend)
    runs = [(0x10000, bytes(data)), (0x40000, needle[:6]), (0x40006, needle[6:])]  # the last two: a hole between
    for size in (1, 7, 999, 4096, 30000):
        hits = list(scanner.scan([(base, [blob[i:i + size] for i in range(0, len(blob), size)]) for base, blob in runs],
                                 context=2500))
        assert found(hits) == reference(patterns, runs)
        assert [hit.start - 0x10000 for hit in hits if hit.pattern == "lit"] == spots
        for hit in hits:  # contexts wider than a block, cut only by the run's ends
            base, blob = [(base, blob) for base, blob in runs if base <= hit.start < base + len(blob)][0]
            low, high = max(0, hit.start - base - 2500), min(len(blob), hit.end - base + 2500)
            assert (hit.context_start, hit.context) == (base + low, blob[low:high])


# Python regexes hyperscan reads the same way; each is searched alone and among the others.
ATOMS = ["a", "b", "ab", "[ab]", "[^a]", ".", "\\d", "\\w", "\\s", "x", "(?:a|bc)", "(a)", "[a-c]"]
QUANTS = ["", "", "*", "+", "?", "{2}", "{1,3}", "{2,}", "+?", "*?"]


@st.composite
def regexes(draw):
    parts = draw(st.lists(st.tuples(st.sampled_from(ATOMS), st.sampled_from(QUANTS)), min_size=1, max_size=4))
    source = "".join(atom + quant for atom, quant in parts)
    if draw(st.booleans()):
        source = draw(st.sampled_from(["", "(?<!b)", "\\b"])) + source + draw(st.sampled_from(["", "(?!a)", "$", "\\b"]))
    return source


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(regexes(), min_size=1, max_size=4),
       data=st.binary(max_size=300).map(lambda raw: bytes(b"abcx 1\n"[byte % 7] for byte in raw)),
       size=st.integers(1, 64), fold=st.booleans())
def test_equivalent_to_re_finditer_on_random_inputs(sources, data, size, fold):
    patterns = []
    for index, source in enumerate(sources):
        try:
            patterns.append(Pattern(index, regex=source, ignore_case=fold))
        except CheckpointError:
            continue  # matches the empty string: refused, as documented
    if not patterns:
        return
    runs = [(0x5000, data)]
    for backend in BACKENDS:
        scanner = compile_patterns(patterns, max_width=400, backend=backend)
        got = found(scanner.scan([(0x5000, [data[i:i + size] for i in range(0, len(data), size)])]))
        assert got == reference(patterns, runs), (backend, scanner.backends)


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_and_byte_caps_and_early_stop(backend):
    data = b"ab" * 50000
    scanner = compile_patterns([Pattern("a", literal=b"a"), Pattern("b", regex=b"b+")], backend=backend)
    scan = scanner.scan([(0, [data])], max_matches=1000)
    hits = list(scan)
    assert len(hits) == 1000 and scan.truncated
    assert [(hit.pattern, hit.start) for hit in hits[:4]] == [("a", 0), ("b", 1), ("a", 2), ("b", 3)]
    scan = scanner.scan([(0, [data])], context=100, max_bytes=10000)
    hits = list(scan)
    assert scan.truncated and 9000 < sum(len(hit.data) + len(hit.context) for hit in hits) <= 10000
    scan = scanner.scan([(0, [data])])
    first = [next(scan) for _round in range(3)]  # the caller stops when it has enough
    assert [hit.start for hit in first] == [0, 1, 2] and not scan.truncated
    scan = scanner.scan([(0, [data])])
    assert len(list(scan)) == 100000 and not scan.truncated


def test_hex_zero_bytes_in_zero_pages_stay_within_memory():
    """issue 16: hex "00" with max_matches 100000 over zero pages held 468 MB."""
    scanner = compile_patterns([Pattern("zero", hex="00")], backend=BACKENDS[0])
    tracemalloc.start()
    try:
        scan = scanner.scan([(0, (bytes(1 << 20) for _mib in range(64)))], context=64, max_matches=100000)
        count = sum(1 for _hit in scan)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 100000 and scan.truncated
    assert peak < 100 << 20


PLANTED = b"\x00" * 4096 + b"a" * 5000 + b"!" + b"word " * 3000 + b"!" + b"\x00" * 4096


def test_hostile_regexes_finish_fast_and_right_on_hyperscan():
    if not multiscan.HAS_HYPERSCAN:
        pytest.skip("hyperscan is not installed")
    patterns = [Pattern("nested", regex=br"(a+)+$"), Pattern("words", regex=br"(\w+\s?)+$"),
                Pattern("tail", regex=br"(\w+\s?)+!")]
    # As callers use it: the scan starts on re, which runs past WARM_TIME and hands over to hyperscan.
    scanner = multiscan.compile_patterns(patterns)
    assert scanner.database is None
    started = time.monotonic()
    hits = found(scanner.scan([(0, [PLANTED[i:i + 1000] for i in range(0, len(PLANTED), 1000)])], time_budget=5))
    assert time.monotonic() - started < 5
    assert scanner.database is not None
    assert scanner.backends == {"nested": "hyperscan", "words": "hyperscan", "tail": "hyperscan"}
    # $ is the end of the run: only "tail" matches (the a-run, then the words), as re finds it
    assert hits == [(4096, "tail", 4096 + 5001), (4096 + 5001, "tail", len(PLANTED) - 4096)]


def test_hostile_regex_on_python_fails_cleanly_naming_the_pattern():
    scanner = multiscan.compile_patterns([Pattern("nested", regex=br"(a+)+$")], backend="python")
    started = time.monotonic()
    with pytest.raises(CheckpointError) as error:
        list(scanner.scan([(0, [PLANTED])], time_budget=0.5))
    assert time.monotonic() - started < 3
    assert "pattern nested" in str(error.value) and "(a+)+$" in str(error.value)
    assert "\n" not in str(error.value)


def test_regex_slow_on_every_stretch_is_held_to_a_budget_for_the_whole_search():
    """Each re call stays under the per-call budget (~0.08 s of 1 s here), but hundreds of stretches
    of them would add up without end: the pattern's time over the whole search is bounded too, by
    the budget plus an allowance per MiB scanned (none here), so the search fails once in all."""
    scanner = multiscan.compile_patterns([Pattern("crawl", regex=br"(a+)+$")], backend="python")
    runs = [(address << 12, [b"a" * 19 + b"!"]) for address in range(500)]
    started = time.monotonic()
    with pytest.raises(CheckpointError) as error:
        list(scanner.scan(runs, time_budget=1.0))
    assert time.monotonic() - started < 10  # 500 stretches would take 40 s
    message = str(error.value)
    assert "pattern crawl" in message and "(a+)+$" in message and "in all on" in message and "\n" not in message


@pytest.mark.skipif(not multiscan.HAS_HYPERSCAN, reason="hyperscan is not installed")
def test_hyperscan_compiled_only_once_the_bytes_make_it_pay(archives, monkeypatch):
    """Small inputs stay on re (no compile cost); past WARM_BYTES the same scan goes on with
    hyperscan, and the hits are those of a scan on hyperscan from the start."""
    monkeypatch.setattr(multiscan, "BLOCK", 1 << 20)
    monkeypatch.setattr(multiscan, "WARM_BYTES", 2 << 20)
    segments = memory_runs(archives["counters"])
    patterns = [Pattern("key", literal=KEY)] + [Pattern(rule["id"], regex=rule["pattern"]) for rule in SECRET_RULES]
    small = multiscan.compile_patterns(patterns)
    list(small.scan([(0x1000, [b"x" * 100000])]))
    assert small.database is None and small.scanned == 100000
    warming = multiscan.compile_patterns(patterns)
    got = found(warming.scan(chunked(segments, 1 << 16)))
    assert warming.database is not None
    assert got == found(compile_patterns(patterns).scan(chunked(segments, 1 << 16)))
    assert [start for start, name, _end in got if name == "key"].count(KEY_ADDRESS) == 1
    hinted = multiscan.compile_patterns(patterns)
    hinted.scan([], size_hint=3 << 20)
    assert hinted.database is not None


def test_required_literal_prefilter():
    assert multiscan.required_literal(br"x[0-9]+RANDOM_(\d+)_KEY") == b"RANDOM_"
    assert multiscan.required_literal(br"(?:abc|abd)e") == b"ab"  # re factors the common prefix out
    assert multiscan.required_literal(br"(?:xyz|q)e") == b"e"
    assert multiscan.required_literal(br"(?i)secret") == b""
    assert multiscan.relax(br"-----BEGIN [A-Z ]{0,20}KEY\s*([A-Za-z0-9+/=]{64,4096})") == \
        br"-----BEGIN [A-Z ]{0,}KEY\s*([A-Za-z0-9+/=]{8,})"


@pytest.mark.parametrize("kwargs,message", [
    (dict(regex="a*"), "matches the empty string"),
    (dict(regex="(?<=a)"), "matches the empty string"),
    (dict(regex="a(b"), "invalid regular expression"),
    (dict(hex="zz"), "not a sequence of hexadecimal bytes"),
    (dict(literal=b""), "must be 1 to"),
    (dict(literal=b"a", regex="b"), "exactly one of"),
])
def test_bad_patterns_fail_in_one_line_naming_them(kwargs, message):
    with pytest.raises(CheckpointError) as error:
        Pattern("mine", **kwargs)
    assert "pattern mine" in str(error.value) and message in str(error.value)


@pytest.mark.skipif(not multiscan.HAS_HYPERSCAN, reason="hyperscan is not installed")
def test_unconfirmed_candidates_are_searched_near_their_end(monkeypatch):
    """A prefilter candidate re does not confirm (here: its lookbehind fails) is searched for up to
    its end plus the pattern's width, not to the end of its block (counters' findings scan: about
    a third of its time); past MAX_MISSES in a block, one search to its end settles the rest. The
    hits stay exactly re.finditer's, before, between and after misses. (The regex compiled, as for
    one without anchors: its anchors, key= and pass=, would give exact starts instead.)"""
    monkeypatch.setattr(multiscan, "MIN_ANCHOR", 64)
    pattern = Pattern("assign", regex=br"(?i)(?<![a-z])(?:key|pass)=([a-z]{8})\b")
    misses = b"xkey=abcdefgh " * (multiscan.MAX_MISSES // 2)
    data = (b" key=realsecr " + misses + b"." * (1 << 20) + b" pass=othersec " + misses * 3 + b"." * (2 << 20)
            + b" key=lastsecr")
    scanner = compile_patterns([pattern])
    assert scanner.backends == {"assign": "hyperscan-prefilter"}
    started = time.monotonic()
    got = found(scanner.scan([(0x1000, [data])]))
    assert got == reference([pattern], [(0x1000, data)]) and len(got) == 3
    assert time.monotonic() - started < 2


def test_anchors_are_the_literals_every_match_starts_with():
    assert multiscan.anchors(br"(?:abc|abd)e") == [b"abce", b"abde"]
    assert multiscan.anchors(br"(?i)(?<![a-z])(?:Token|SECRET)=\d") == [b"secret=", b"token="]
    assert multiscan.anchors(br"[Bb]asic[ \t]+x") == [b"Basic\t", b"Basic ", b"basic\t", b"basic "]
    assert multiscan.anchors(br"(?:xyz)+q") == [b"xyz"]  # a repeat: its first round, then unknown
    assert multiscan.anchors(b"(?:%s)" % (b"x" * 100000)) == [b"x" * multiscan.MAX_ANCHOR]  # not 100 kB
    for source in (br"\d+abc", br"ab", br"x?abc", br"(?:ab|)cd", br"[a-z]bcd", br"(?i:abc)d"):
        assert multiscan.anchors(source) is None, source  # unknown, too short, optional or too wide
    rules = dict((rule["id"], rule["pattern"].encode()) for rule in findings.BUILTIN_RULES if rule.get("pattern"))
    assert multiscan.anchors(rules["secret.password-assignment"])[:3] == [b"access", b"account", b"api"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_anchored_regexes_match_re_across_blocks_chunks_and_candidate_windows(backend, monkeypatch):
    """Regexes re cannot skip through by itself (ignoring case, a character class or a lookbehind
    first) are tried only where one of their anchors occurs: on Python found by bytes.find over
    whole blocks, on hyperscan found by it as literals. Planted across block edges, cut into any chunks, next to
    near misses, the hits are exactly re.finditer's."""
    monkeypatch.setattr(multiscan, "BLOCK", 1000)
    patterns = [Pattern("assign", regex=br"(?i)(?<![a-z])(?:token|secret_?key)\s*=\s*([a-z0-9]{6,})"),
                Pattern("basic", regex=br"[Bb]asic[ \t]+([A-Za-z0-9+/]{8,2048}=*)"),
                Pattern("stripe", regex=br"(?:[rs]k_live_|whsec_)[A-Za-z0-9]{8,}")]
    data = bytearray(b"." * 6000)
    plants = [(990, b"TOKEN = abc123xyz"), (1994, b"basic dXNlcjpwYXNzd29yZA=="), (2500, b"xtoken=nothere1"),
              (2600, b"Secret_Key=short1"), (2990, b"sk_live_4eC39HqLyjWDarjtT1zdp7dc"), (4000, b"BASIC notthis"),
              (4995, b"whsec_Zm9vYmFyYmF6cXV4"), (5980, b"secretkey=end123")]
    for spot, text in plants:
        data[spot:spot + len(text)] = text
    scanner = compile_patterns(patterns, max_width=512, backend=backend)
    assert all(entry.anchors for entry in scanner.entries)
    runs = [(0x10000, bytes(data))]
    for size in (1, 13, 1000, 7000):
        got = found(scanner.scan([(0x10000, [runs[0][1][i:i + size] for i in range(0, len(data), size)])]))
        assert got == reference(patterns, runs)
    assert [(start - 0x10000, name) for start, name, _end in got] == [
        (990, "assign"), (1994, "basic"), (2600, "assign"), (2990, "stripe"), (4995, "stripe"), (5980, "assign")]


@pytest.mark.skipif(not multiscan.HAS_HYPERSCAN, reason="hyperscan is not installed")
def test_anchors_found_too_often_hand_over_to_the_compiled_regex():
    """Hyperscan finds regexes by their anchors (a database of literals compiles in a millisecond);
    memory full of an anchor (hostile, or just repetitive) would make re confirm every one, so past
    FLOOD in a block the regex itself is compiled and the block done again: the hits stay exactly
    re.finditer's, in bounded time."""
    rules = dict((rule["id"], rule["pattern"]) for rule in SECRET_RULES)
    patterns = [Pattern("jwt", regex=rules["secret.jwt"]), Pattern("key", literal=KEY),
                Pattern("basic", regex=rules["secret.basic-auth"])]
    token = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    calm = b"x" * 3000 + token + b" " + KEY + b" Basic dXNlcjpwYXNzd29yZA==" + b"." * 3000
    flood = b"eyJ.basic !" * 100000 + token + b" " + KEY + b" basic dXNlcjpwYXNzd29yZA=="
    scanner = compile_patterns(patterns)
    assert scanner.entries[0].starts == [b"eyJ"] and len(scanner.table) == 6  # the anchors, and the literal
    runs = [(0x1000, calm), (0x100000, flood), (0x800000, calm)]
    started = time.monotonic()
    got = found(scanner.scan([(base, [data]) for base, data in runs]))
    assert time.monotonic() - started < 3
    assert got == reference(patterns, runs)
    assert [start for start, name, _end in got if name == "jwt"] == [0x1000 + 3000, 0x100000 + 1100000, 0x800000 + 3000]
    assert len([name for _start, name, _end in got if name == "basic"]) == 3
    assert scanner.entries[0].starts is None and scanner.entries[2].starts is None  # their regexes compiled:
    assert scanner.backends == {"jwt": "hyperscan-prefilter", "key": "hyperscan", "basic": "hyperscan-prefilter"}
