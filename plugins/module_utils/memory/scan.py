# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk work over dumped process memory: search, strings and copies, in one pass over the pages.

Every consumer sees the memory of a process as *windows*: a reusable buffer holding a stretch
that is contiguous both in virtual memory and in the pages image (a pagemap segment), with a few
bytes of look-behind and look-ahead from the same stretch, so a match is found wherever the
process saw the bytes side by side - across pages and pagemap entries - and never across a hole.

Plain tars are read in place (preadv at the member's offset, into the same buffer every time).
Compressed archives are decompressed once, streaming, by the Checkpoint (criu/checkpoint.py),
which hands each pages image to ``feed`` as it goes by.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import os
import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CapturedRanges
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import multiscan
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import (
    PageMap,
    process_ids,
)

# Bytes each window owns: large enough that Python's per-window cost vanishes next to
# bytes.find's memory-speed scan, small enough to keep resident memory low.
WINDOW = 8 << 20
# The longest regular-expression match found whole; longer ones may be cut at a window edge.
REGEX_SPAN = 64 << 10
MAX_PATTERN = 64 << 10
MAX_CONTEXT = 4096
# The returned data a search may produce before it stops as truncated, whatever max_matches,
# context and the regex allow: counted as the text the module returns (a byte shown escaped takes
# up to 4 characters, and each match a record of its own), so that the module, the JSON it sends
# and the controller parsing it stay far under 200 MB.
RESULT_BUDGET = 16 << 20
MATCH_OVERHEAD = 256
# A strings record is counted at what it costs as Python objects (the engine's match dict and the
# result's record, ~600 bytes), not as its JSON: a million one-character strings are records, not
# bytes (at 256 a record, ansible-core 2.16 peaked at 210 MB on them, 2.19 at 167 MB).
STRING_OVERHEAD = 640
_PAGEMAP_RE = names.PAGEMAP_RE


# -- queries ----------------------------------------------------------------------------------


class Query(object):
    """A compiled search: one multiscan ``pattern`` (literal bytes, case-folded when ``fold``, or a
    bytes ``regex``), its longest match found whole being ``span`` bytes."""

    def __init__(self, pattern, span=None):
        self.pattern = pattern
        self.fold = pattern.ignore_case
        self.literal = pattern.literal.lower() if self.fold and pattern.literal is not None else pattern.literal
        self.regex = pattern.regex if pattern.literal is None else None
        self.span = len(pattern.literal) if pattern.literal is not None else (span or REGEX_SPAN)


def compile_query(pattern=None, hex=None, regex=None, ignore_case=False):  # pylint: disable=redefined-builtin
    """The Query for exactly one of ``pattern`` (text), ``hex`` (bytes) or ``regex``.

    Errors name the option: ``regex: invalid regular expression (...)``.
    """
    given = [name for name, value in (("pattern", pattern), ("hex", hex), ("regex", regex)) if value]
    if len(given) != 1:
        raise CheckpointError("pattern", "give exactly one of pattern, hex or regex (got %s)"
                              % (", ".join(given) or "none"))
    if regex:
        source = regex.encode("utf-8", "surrogateescape")
        try:
            compiled = re.compile(source, re.IGNORECASE if ignore_case else 0)
        except (re.error, OverflowError, RecursionError) as exc:
            raise CheckpointError("regex", "invalid regular expression (%s)" % str(exc).splitlines()[0])
        if compiled.search(b"") is not None:
            raise CheckpointError("regex", "matches the empty string, which would match everywhere")
        return Query(multiscan.Pattern("regex", regex=source, ignore_case=ignore_case))
    if hex:
        cleaned = re.sub(r"0x|\\x|[\s:,-]", "", hex, flags=re.IGNORECASE)
        try:
            data = bytes.fromhex(cleaned)
        except ValueError:
            raise CheckpointError("hex", "not a sequence of hexadecimal bytes: %r" % hex[:80])
        name = "hex"
    else:
        data = pattern.encode("utf-8", "surrogateescape")
        name = "pattern"
    if not data or len(data) > MAX_PATTERN:
        raise CheckpointError(name, "must be 1 to %d bytes long" % MAX_PATTERN)
    # Case folding is ASCII only, as re.IGNORECASE does for bytes.
    return Query(multiscan.Pattern(name, literal=data, ignore_case=ignore_case))


# -- consumers --------------------------------------------------------------------------------


class Window(object):
    """``data[:end]`` holds memory from ``address`` (and pages-image ``offset``) of process ``pid``.

    The window owns ``data[start:stop]``: each byte of a segment is owned by exactly one window;
    the bytes around are look-behind and look-ahead from the same segment (which starts at
    ``segment``). ``data`` is reused for the next window: keep copies, not views.
    """

    __slots__ = ("data", "end", "address", "offset", "start", "stop", "pid", "segment", "pages")


class Consumer(object):
    """Something fed windows: ``before``/``after`` bytes of look-behind/ahead it needs."""

    before = 0
    after = 0
    done = False
    source = "dump"

    def ranges(self, pid):  # pylint: disable=unused-argument
        """Address ranges of ``pid`` this consumer needs, sorted; None for all its memory."""
        return None

    def feed(self, window):
        raise NotImplementedError


class Search(Consumer):
    """Matches of a Query, non-overlapping within each segment, as finditer would give them.

    Each window is one multiscan run (memory/multiscan.py): hyperscan when installed (linear
    time, whatever the regex), else bytes.find and re; every re call under multiscan's time
    budget, so catastrophic backtracking fails with one line naming the pattern."""

    def __init__(self, query, context=0, max_matches=1000, overhead=MATCH_OVERHEAD):
        self.query, self.overhead = query, overhead
        self.scanner = multiscan.compile_patterns([query.pattern], max_width=REGEX_SPAN)
        self.context = context
        self.max_matches = max_matches
        self.before = max(context, multiscan.LOOKBEHIND)
        self.after = query.span - 1 + context
        self.matches = []
        self.truncated = False
        self.expected = 0
        self._segment = None
        self._resume = 0
        self._stored = 0

    def expect(self, size):
        """The memory bytes to come (the Checkpoint says): hyperscan compiles at once when it pays."""
        self.expected += size

    def feed(self, window):
        key = (window.pid, window.segment, self.source)
        if key != self._segment:
            self._segment, self._resume = key, 0
        low = max(0, window.start - self.before)
        data = window.data
        run = data if low == 0 and window.end == len(data) else memoryview(data)[low:window.end]
        # Hits in the look-behind are the previous window's: room for them beyond the cap.
        found = self.scanner.scan([(window.address + low, [run])], context=self.context,
                                  max_matches=self.max_matches - len(self.matches) + window.start - low,
                                  size_hint=self.expected or None)
        first = window.address + window.start
        for hit in found:
            if hit.start >= window.address + window.stop:
                return
            if hit.start < max(first, self._resume):
                continue
            self._hit(window, hit)
            if self.done:
                return
        if found.truncated:
            self.truncated = self.done = True

    def _hit(self, window, hit):
        if len(self.matches) >= self.max_matches or self._stored > RESULT_BUDGET:
            self.truncated = self.done = True
            return
        self._resume = hit.end
        self._stored += 4 * (len(hit.data) + len(hit.context)) + self.overhead
        self.matches.append({
            "pid": window.pid, "address": hit.start, "data": hit.data,
            "context": hit.context, "context_address": hit.context_start,
            "image": window.pages, "image_offset": window.offset + hit.start - window.address, "source": self.source,
        })


def strings_query(min_length):
    """Runs of printable ASCII (and tabs), as ``strings`` finds them."""
    return Query(multiscan.Pattern("strings", regex=b"[\\t\\x20-\\x7e]{%d,}" % min_length), span=REGEX_SPAN)


class Copy(Consumer):
    """Copies address ranges of one process to sinks (``sink.write(address, buffer)``)."""

    def __init__(self, pid, targets):
        self.pid = pid
        self.targets = sorted(targets, key=lambda target: target[0])  # [(start, end, sink)]
        # reach[i]: the furthest end among targets[:i + 1]; non-decreasing, so bisect finds the
        # first target that can overlap a window even when targets overlap each other.
        self._reach, furthest = [], 0
        for _start, end, _sink in self.targets:
            furthest = max(furthest, end)
            self._reach.append(furthest)

    def ranges(self, pid):
        return [(start, end) for start, end, _sink in self.targets] if pid == self.pid else []

    def feed(self, window):
        if window.pid != self.pid:
            return
        low, high = window.address + window.start, window.address + window.stop
        index = bisect.bisect_right(self._reach, low)
        with memoryview(window.data) as view:
            for start, end, sink in self.targets[index:]:
                if start >= high:
                    break
                first, last = max(start, low), min(end, high)
                if first < last:
                    sink.write(first, view[first - window.address:last - window.address])


class Capture(Consumer):
    """Keeps the pages-image bytes of some virtual ranges of each process (argv and environ, say)
    while they stream by, for ``readers()`` to serve afterwards.

    ``ranges_of(index, pid, final)`` gives a process's ranges from the images indexed so far, or
    None while what it needs (its mm image) has not gone by yet (``final``: the index is complete).
    Past ``limit`` bytes kept (processes claiming megabytes each) it keeps nothing: ``readers()`` is
    then None, and the reader reads what it needs itself."""

    def __init__(self, ranges_of, limit=None):
        self._ranges_of = ranges_of
        self._ranges = {}
        self._chunks = {}  # pages image -> [[offset, bytearray]], contiguous runs merged
        self._left = limit

    def ready(self, index, pids, final=False):
        """Whether the ranges of ``pids`` are known (``final``: the index is complete)."""
        if self._chunks is None:  # past the limit: nothing more is kept
            return True
        for pid in pids:
            if pid not in self._ranges:
                found = self._ranges_of(index, pid, final)
                if found is None:
                    return False
                self._ranges[pid] = sorted(found)
        return True

    def ranges(self, pid):
        return self._ranges.get(pid, [])

    def feed(self, window):
        low, high = window.address + window.start, window.address + window.stop
        for start, end in self._ranges.get(window.pid, ()):
            first, last = max(start, low), min(end, high)
            if first >= last:
                continue
            offset = window.offset + first - window.address
            data = window.data[first - window.address:last - window.address]
            if self._left is not None:
                self._left -= len(data)
                if self._left < 0:
                    self._chunks, self._ranges = None, {}
                    return
            chunks = self._chunks.setdefault(window.pages, [])
            if chunks and chunks[-1][0] + len(chunks[-1][1]) == offset:
                chunks[-1][1] += data
            else:
                chunks.append([offset, bytearray(data)])

    def readers(self):
        if self._chunks is None:
            return None
        return dict((pages, CapturedRanges(pages, [(offset, bytes(data)) for offset, data in chunks]))
                    for pages, chunks in self._chunks.items())


# -- the window engine ------------------------------------------------------------------------


def announce(consumers, pieces):
    """Tell each consumer the memory bytes ``pieces`` hold before they come: a scanner then
    compiles hyperscan at once when that pays (multiscan.WARM_BYTES), instead of starting on re."""
    size = sum(piece[2] for piece in pieces)
    for consumer in consumers:
        expect = getattr(consumer, "expect", None)
        if expect is not None:
            expect(size)


def feed(read_into, pieces, consumers, pages):
    """Feed ``consumers`` windows of ``pieces`` [(vaddr, offset, length, pid)] of image ``pages``.

    ``read_into(view, offset)`` fills ``view`` from the pages image at ``offset``; for a stream the
    pieces come sorted by offset. One buffer serves every window.
    """
    if not pieces:
        return
    before = max(consumer.before for consumer in consumers)
    after = max(consumer.after for consumer in consumers)
    buf = bytearray(before + min(WINDOW, max(piece[2] for piece in pieces)) + after)
    view = memoryview(buf)
    window = Window()
    window.data, window.pages = buf, pages
    for vaddr, offset, length, pid in pieces:
        live = [consumer for consumer in consumers if not consumer.done]
        if not live:
            return
        window.pid, window.segment = pid, vaddr
        fill = own = done = 0
        while True:
            want = min(len(buf) - fill, length - done)
            got = read_into(view[fill:fill + want], offset + done)
            if got != want:
                raise ImageError(pages, "ends inside the memory of pid %d (offset %d)" % (pid, offset + done + got))
            fill += want
            done += want
            last = done == length
            window.end, window.start = fill, own
            window.stop = fill if last else fill - after
            window.address, window.offset = vaddr + done - fill, offset + done - fill
            for consumer in live:
                consumer.feed(window)
            if last or all(consumer.done for consumer in live):
                break
            keep = window.stop - min(window.stop, before)
            buf[:fill - keep] = buf[keep:fill]
            fill -= keep
            own = window.stop - keep


def _merge(ranges):
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(pair) for pair in merged]


def _intersect(first, second):
    """The intersection of two sorted lists of disjoint ranges, in one sweep."""
    out, i, j = [], 0, 0
    while i < len(first) and j < len(second):
        low, high = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if low < high:
            out.append((low, high))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def plan(pagemaps, consumers, clip=None):
    """Pieces [(vaddr, offset, length, pid)] of ``pagemaps`` some consumer needs, sorted by offset."""
    pieces = []
    for pagemap in pagemaps:
        wanted = [consumer.ranges(pagemap.pid) for consumer in consumers]
        ranges = None if any(r is None for r in wanted) else _merge([pair for r in wanted for pair in r])
        if clip is not None:
            limit = clip.get(pagemap.pid, [])
            ranges = limit if ranges is None else _intersect(ranges, limit)
        if ranges == []:
            continue
        for vaddr, offset, length in pagemap.clipped_segments(ranges):
            pieces.append((vaddr, offset, length, pagemap.pid))
    pieces.sort(key=lambda piece: piece[1])
    return pieces


# -- archives ---------------------------------------------------------------------------------


def stream_reader(fileobj, pages):
    """feed's ``read_into`` over a pages image streaming by (archive.StreamMember): forward only."""

    def read_into(view, offset):
        if offset < fileobj.position:
            raise ImageError(pages, "pagemaps sharing it overlap (offset %d read twice)" % offset)
        fileobj.skip(offset - fileobj.position)
        return fileobj.readinto(view)

    return read_into


def pagemap_pids(archive, pids=None):
    found = []
    for name in archive.names(names.PAGEMAP_PREFIX):
        match = _PAGEMAP_RE.match(name)
        if match and (pids is None or int(match.group(1)) in pids):
            found.append(int(match.group(1)))
    return found


def scan_plain(archive, consumers, pids=None, clip=None):
    order = dict((pid, index) for index, pid in enumerate(process_ids(archive)))
    by_pages = {}
    for pid in sorted(pagemap_pids(archive, pids), key=lambda p: order.get(p, len(order))):
        pagemap = PageMap.of(archive, pid)
        by_pages.setdefault(pagemap.pages, []).append(pagemap)
    plans = [(pages, plan(pagemaps, consumers, clip)) for pages, pagemaps in by_pages.items()]
    announce(consumers, [piece for _pages, pieces in plans for piece in pieces])
    for pages, pieces in plans:
        base = archive.regular(pages).offset

        def read_into(view, offset, base=base):
            return os.preadv(archive.fileno(), [view], base + offset)

        feed(read_into, pieces, consumers, pages)
