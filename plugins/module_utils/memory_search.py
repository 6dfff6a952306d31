# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk work over dumped process memory: search, strings and copies, in one pass over the pages.

Every consumer sees the memory of a process as *windows*: a reusable buffer holding a stretch
that is contiguous both in virtual memory and in the pages image (a pagemap segment), with a few
bytes of look-behind and look-ahead from the same stretch, so a match is found wherever the
process saw the bytes side by side - across pages and pagemap entries - and never across a hole.

Plain tars are read in place (preadv at the member's offset, into the same buffer every time).
Compressed archives are decompressed once, streaming, by CheckpointArchive: each pages image is
read into the same buffer as it goes by, and the small members are kept, so the images can be
decoded afterwards from the same pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import os
import re

from ansible_collections.forensic.checkpoint.plugins.module_utils import criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.archive import CheckpointArchive, is_pages_image
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import (
    PageMap,
    hexdump,
    load_processes,
    pagemap_name,
    pages_name,
    printable,
    process_ids,
)

# Bytes each window owns: large enough that Python's per-window cost vanishes next to
# bytes.find's memory-speed scan, small enough to keep resident memory low.
WINDOW = 8 << 20
# The longest regular-expression match found whole; longer ones may be cut at a window edge.
REGEX_SPAN = 64 << 10
MAX_PATTERN = 64 << 10
MAX_CONTEXT = 4096
# Bytes of matches and contexts kept before a search stops as truncated: results stay small
# whatever max_matches, context and the regex allow.
RESULT_BUDGET = 32 << 20
_PAGEMAP_RE = re.compile(r"^checkpoint/pagemap-(\d+)\.img$")


# -- queries ----------------------------------------------------------------------------------


class Query(object):
    """A compiled search: ``literal`` bytes (found with bytes.find; lower case and looked for in
    lowered memory when ``fold``) or a bytes ``regex``."""

    def __init__(self, literal=None, regex=None, span=None, fold=False):
        self.literal = literal.lower() if fold else literal
        self.regex = regex
        self.fold = fold
        self.span = len(literal) if literal is not None else (span or REGEX_SPAN)


def compile_query(pattern=None, hex=None, regex=None, ignore_case=False):  # pylint: disable=redefined-builtin
    """The Query for exactly one of ``pattern`` (text), ``hex`` (bytes) or ``regex``.

    Errors name the option: ``regex: invalid regular expression (...)``.
    """
    given = [name for name, value in (("pattern", pattern), ("hex", hex), ("regex", regex)) if value]
    if len(given) != 1:
        raise CheckpointError("pattern", "give exactly one of pattern, hex or regex (got %s)"
                              % (", ".join(given) or "none"))
    if regex:
        try:
            compiled = re.compile(regex.encode("utf-8", "surrogateescape"), re.IGNORECASE if ignore_case else 0)
        except (re.error, OverflowError, RecursionError) as exc:
            raise CheckpointError("regex", "invalid regular expression (%s)" % str(exc).splitlines()[0])
        if compiled.search(b"") is not None:
            raise CheckpointError("regex", "matches the empty string, which would match everywhere")
        return Query(regex=compiled)
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
    # bytes.lower() folds ASCII only, as re.IGNORECASE does for bytes, but runs at memory speed.
    return Query(literal=data, fold=ignore_case)


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
    """Matches of a Query, non-overlapping within each segment, as finditer would give them."""

    def __init__(self, query, context=0, max_matches=1000):
        self.query = query
        self.context = context
        self.max_matches = max_matches
        self.before = context
        self.after = query.span - 1 + context
        self.matches = []
        self.truncated = False
        self._segment = None
        self._resume = 0
        self._stored = 0

    def feed(self, window):
        key = (window.pid, window.segment, self.source)
        if key != self._segment:
            self._segment, self._resume = key, 0
        pos = max(window.start, self._resume - window.address)
        data = window.data
        literal = self.query.literal
        if literal is not None:
            if self.query.fold:
                data = data.lower()  # same length, so offsets hold; _hit copies the original bytes
            limit = min(window.end, window.stop + len(literal) - 1)
            index = data.find(literal, pos, limit)
            while index >= 0 and not self.done:
                self._hit(window, index, index + len(literal))
                index = data.find(literal, index + len(literal), limit)
            return
        for match in self.query.regex.finditer(data, pos, window.end):
            if match.start() >= window.stop or self.done:
                break
            if match.end() > match.start():
                self._hit(window, match.start(), match.end())

    def _hit(self, window, start, end):
        if len(self.matches) >= self.max_matches or self._stored > RESULT_BUDGET:
            self.truncated = self.done = True
            return
        self._resume = window.address + end
        low, high = max(0, start - self.context), min(window.end, end + self.context)
        self._stored += end - start + high - low
        self.matches.append({
            "pid": window.pid, "address": window.address + start, "data": bytes(window.data[start:end]),
            "context": bytes(window.data[low:high]), "context_address": window.address + low,
            "image": window.pages, "image_offset": window.offset + start, "source": self.source,
        })


def strings_query(min_length):
    """Runs of printable ASCII (and tabs), as ``strings`` finds them."""
    return Query(regex=re.compile(b"[\\t\\x20-\\x7e]{%d,}" % min_length), span=REGEX_SPAN)


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


# -- the window engine ------------------------------------------------------------------------


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


def _stream_reader(fileobj, pages):
    """feed's ``read_into`` over a pages image streaming by (archive.StreamMember): forward only."""

    def read_into(view, offset):
        if offset < fileobj.position:
            raise ImageError(pages, "pagemaps sharing it overlap (offset %d read twice)" % offset)
        fileobj.skip(offset - fileobj.position)
        return fileobj.readinto(view)

    return read_into


class _PagesPass(CheckpointArchive):
    """A compressed archive indexed in one pass, each pages image offered to ``on_pages(self,
    member, read_into)`` as it streams by, with the members before it already indexed."""

    def __init__(self, path, on_pages):
        def visit(member, fileobj):
            if self.compression != "none" and is_pages_image(member.name):
                on_pages(self, member, _stream_reader(fileobj, member.name))

        super(_PagesPass, self).__init__(path, visit=visit)


def _pagemap_pids(archive, pids):
    found = []
    for name in archive.names("checkpoint/pagemap-"):
        match = _PAGEMAP_RE.match(name)
        if match and (pids is None or int(match.group(1)) in pids):
            found.append(int(match.group(1)))
    return found


def _scan_plain(archive, consumers, pids, clip):
    order = dict((pid, index) for index, pid in enumerate(process_ids(archive)))
    by_pages = {}
    for pid in sorted(_pagemap_pids(archive, pids), key=lambda p: order.get(p, len(order))):
        pagemap = PageMap.load(archive, pid)
        by_pages.setdefault(pagemap.pages, []).append(pagemap)
    for pages, pagemaps in by_pages.items():
        base = archive.member(pages).offset

        def read_into(view, offset, base=base):
            return os.preadv(archive.fileno(), [view], base + offset)

        feed(read_into, plan(pagemaps, consumers, clip), consumers, pages)


def scan(path, consumers=(), pids=None, clip=None):
    """Run ``consumers`` over the dumped memory of ``pids`` (every process when None) of the
    checkpoint archive ``path``, in one pass, and return its CheckpointArchive. ``clip``
    ({pid: [(start, end)]}) limits the memory looked at (parent passes)."""
    consumers = list(consumers)
    if not consumers:
        return CheckpointArchive(path)
    heads, fed = {}, set()

    def on_pages(index, member, read_into):
        # Only the pagemap heads are decoded until their pages image is known: PageMap checks
        # each pagemap against the size of its pages image.
        pagemaps = []
        for pid in _pagemap_pids(index, pids):
            if pid not in heads:
                heads[pid] = pages_name(criu_images.load(index, pagemap_name(pid), expect="PAGEMAP").first().pages_id)
            if heads[pid] == member.name:
                pagemaps.append(PageMap.load(index, pid))
        if pagemaps:
            fed.add(member.name)
            feed(read_into, plan(pagemaps, consumers, clip), consumers, member.name)

    archive = _PagesPass(path, on_pages)
    try:
        if archive.compression == "none":
            _scan_plain(archive, consumers, pids, clip)
            return archive
        late = {}
        for pid in _pagemap_pids(archive, pids):
            pagemap = PageMap.load(archive, pid)
            if pagemap.pages not in fed:
                late.setdefault(pagemap.pages, []).append(pagemap)
        if late:  # pagemaps stored after their pages image: one more pass for those

            def on_late(_index, member, read_into):
                if member.name in late:
                    feed(read_into, plan(late[member.name], consumers, clip), consumers, member.name)

            _PagesPass(path, on_late).close()
    except BaseException:
        archive.close()
        raise
    return archive


# -- destinations -----------------------------------------------------------------------------

READ_LIMIT = 1 << 20
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Buffer(object):
    """[base, base + size) in memory, zeros where nothing was dumped."""

    def __init__(self, base, size):
        self.base = base
        self.data = bytearray(size)

    def write(self, address, data):
        self.data[address - self.base:address - self.base + len(data)] = data


class _FileSink(object):
    """[base, base + size) of memory as a new 0600 file in ``dirfd``: a hidden temporary file,
    renamed over ``name`` only when complete; holes where nothing was dumped."""

    def __init__(self, dirfd, name, base, size):
        self.dirfd, self.name, self.base, self.size = dirfd, name, base, size
        self.written = 0
        self.tmp = ".%s.%s.tmp" % (name, os.urandom(6).hex())
        fd = os.open(self.tmp, _NEW_FILE, 0o600, dir_fd=dirfd)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def write(self, address, data):
        # Opened per window so a process with thousands of VMAs never holds thousands of fds.
        try:
            fd = os.open(self.tmp, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                         dir_fd=self.dirfd)
            try:
                os.pwrite(fd, data, address - self.base)
            finally:
                os.close(fd)
        except OSError as exc:  # a full disk, say: not to pass for a fault of the archive being read
            raise CheckpointError("dest", "cannot write %s (%s)" % (self.name, (exc.strerror or str(exc)).lower()))
        self.written += len(data)

    def commit(self):
        os.replace(self.tmp, self.name, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)

    def discard(self):
        try:
            os.unlink(self.tmp, dir_fd=self.dirfd)
        except OSError:
            pass


def _open_dir(path, create, check_mode):
    """A directory fd for ``path`` (created 0700 if ``create`` and missing); never through a symlink."""
    if create and not os.path.lexists(path) and not check_mode:
        try:
            os.mkdir(path, 0o700)
        except OSError as exc:
            raise CheckpointError("dest", "cannot create directory %s (%s)" % (path, exc.strerror or exc))
    if check_mode and create and not os.path.lexists(path):
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CheckpointError("dest", "%s is not a usable directory (%s)" % (path, (exc.strerror or str(exc)).lower()))


def _file_dest(dest, check_mode):
    """(dirfd, file name) for a single-file ``dest``."""
    full = os.path.abspath(dest)
    parent, name = os.path.split(full)
    if os.path.isdir(full) or not name:
        raise CheckpointError("dest", "%s is a directory; give the path of the file to write" % dest)
    return _open_dir(parent, False, check_mode), name


# -- the checkpoint_memory request ------------------------------------------------------------


def _address(value, option):
    try:
        number = value if isinstance(value, int) else int(str(value).strip(), 0)
    except ValueError:
        raise CheckpointError(option, "not an address: %r (use an integer or 0x-prefixed hex)" % (value,))
    if not 0 <= number < 1 << 64:
        raise CheckpointError(option, "address out of range: %r" % (value,))
    return number


def _range_dict(address, length, state):
    return {"address": address, "address_hex": "0x%x" % address, "length": length, "state": state}


class _Request(object):
    """One checkpoint_memory task: at most one of search, read, strings or write."""

    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []
        self.result = {"changed": False, "warnings": self.warnings}
        self.processes = {}
        self._indexes = []

    def _scan(self, path, consumers=(), pids=None, clip=None):
        index = scan(path, consumers, pids, clip)
        self._indexes.append(index)
        return index

    def _number(self, option, value, low, high):
        if value is None or not low <= value <= high:
            raise CheckpointError(option, "must be between %d and %d (got %r)" % (low, high, value))
        return value

    def run(self):
        try:
            return self._run()
        finally:
            for index in self._indexes:
                index.close()

    def _run(self):
        params = self.params
        query = [name for name in ("pattern", "hex", "regex") if params.get(name)]
        chosen = query[:1] + [name for name in ("read", "strings", "write") if params.get(name) is not None]
        if len(chosen) > 1:
            raise CheckpointError(chosen[1], "give only one of pattern/hex/regex, read, strings or write per task")
        if params.get("dest") and chosen[:1] not in (["read"], ["write"]):
            raise CheckpointError("dest", "is only used with read or write")
        if query:
            self._search()
        elif chosen == ["read"]:
            self._read(params["read"])
        elif chosen == ["strings"]:
            self._strings(params["strings"])
        elif chosen == ["write"]:
            self._write(params["write"])
        else:
            self._describe(self._scan(params["path"]), self._pids(params.get("pid")))
        return self.result

    @staticmethod
    def _pids(pid):
        return None if pid is None else [pid]

    def _describe(self, index, pids):
        procs = load_processes(index, pids)
        self.processes = dict((proc.pid, proc) for proc in procs)
        self.result["processes"] = [proc.describe() for proc in procs]
        for proc in procs:
            if proc.pagemap is None:
                continue
            sizes = proc.pagemap.state_sizes()
            if sizes["parent"] and not self.params.get("parent"):
                self.warnings.append("pid %d: %d bytes of its memory are in the parent checkpoint (set parent to "
                                     "read them)" % (proc.pid, sizes["parent"]))
            if sizes["lazy"]:
                self.warnings.append("pid %d: %d bytes are lazy pages, in no checkpoint image" % (proc.pid, sizes["lazy"]))
        return procs

    def _parent_pass(self, consumers):
        """Run ``consumers`` over the pages the processes left in the parent checkpoint."""
        clip = dict((pid, proc.pagemap.ranges("parent")) for pid, proc in self.processes.items() if proc.pagemap)
        clip = dict((pid, ranges) for pid, ranges in clip.items() if ranges)
        if not clip or not self.params.get("parent"):
            return None
        for consumer in consumers:
            consumer.source = "parent"
        index = self._scan(self.params["parent"], consumers, sorted(clip), clip)
        for pid in sorted(clip):
            if not index.has(pagemap_name(pid)):
                self.warnings.append("pid %d: the parent checkpoint has no memory for it" % pid)
        return index

    def _vma(self, pid, address):
        proc = self.processes.get(pid)
        vma = proc.vma_at(address) if proc else None
        return vma.brief() if vma else None

    def _search(self):
        params = self.params
        query = compile_query(params.get("pattern"), params.get("hex"), params.get("regex"),
                              params.get("ignore_case", False))
        search = Search(query, self._number("context", params.get("context", 32), 0, MAX_CONTEXT),
                        self._number("max_matches", params.get("max_matches", 100), 1, 100000))
        pids = self._pids(params.get("pid"))
        self._describe(self._scan(params["path"], [search], pids), pids)
        self._parent_pass([search])
        order = dict((pid, index) for index, pid in enumerate(self.processes))
        matches = []
        for hit in sorted(search.matches, key=lambda h: (order.get(h["pid"], 0), h["address"])):
            matches.append({
                "pid": hit["pid"], "address": hit["address"], "address_hex": "0x%x" % hit["address"],
                "length": len(hit["data"]), "match": printable(hit["data"]), "context": printable(hit["context"]),
                "context_address": hit["context_address"], "vma": self._vma(hit["pid"], hit["address"]),
                "image": hit["image"], "image_offset": hit["image_offset"], "source": hit["source"],
            })
        self.result.update(matches=matches, truncated=search.truncated)

    def _strings(self, spec):
        spec = spec or {}
        search = Search(strings_query(self._number("strings.min_length", spec.get("min_length", 4), 1, 1024)),
                        0, self._number("strings.max_strings", spec.get("max_strings", 1000), 1, 1000000))
        pid = spec.get("pid") if spec.get("pid") is not None else self.params.get("pid")
        self._describe(self._scan(self.params["path"], [search], self._pids(pid)), self._pids(pid))
        self._parent_pass([search])
        self.result.update(truncated=search.truncated, strings=[
            {"pid": hit["pid"], "address": hit["address"], "address_hex": "0x%x" % hit["address"],
             "string": hit["data"].decode("ascii")} for hit in sorted(search.matches, key=lambda h: (h["pid"], h["address"]))])

    def _missing(self, pid, address, length, parent_index):
        """Pieces of [address, address + length) that neither this dump nor its parent holds."""
        parent_map = None
        if parent_index is not None and parent_index.has(pagemap_name(pid)):
            parent_map = PageMap.load(parent_index, pid)
        missing = []
        for state, _offset, size in self.processes[pid].pagemap.states(address, length):
            pieces = [(state, None, size)]
            if state == "parent" and parent_map is not None:
                # What the parent lacks stays "parent": it would be in an older checkpoint still.
                pieces = [(st if st == "present" else "parent", None, sz) for st, _o, sz in parent_map.states(address, size)]
            for piece_state, _offset, piece_size in pieces:
                if piece_state != "present":
                    missing.append(_range_dict(address, piece_size, piece_state))
                address += piece_size
        return missing

    def _read(self, spec):
        if spec.get("pid") is None:
            raise CheckpointError("read.pid", "is required: the process whose memory to read")
        pid = spec["pid"]
        address = _address(spec.get("address"), "read.address")
        dest = self.params.get("dest")
        length = self._number("read.length", spec.get("length", 256), 1, (1 << 40) if dest else READ_LIMIT)
        if dest:
            dirfd, name = _file_dest(dest, self.check_mode)
            sink = None if self.check_mode else _FileSink(dirfd, name, address, length)
        else:
            dirfd, sink = None, _Buffer(address, length)
        try:
            copy = Copy(pid, [(address, address + length, sink)] if sink else [])
            self._describe(self._scan(self.params["path"], [copy], [pid]), [pid])
            if self.processes[pid].pagemap is None:
                raise CheckpointError("read.pid", "process %d has no memory in this checkpoint" % pid)
            parent_index = self._parent_pass([copy])
            out = {"pid": pid, "address": address, "address_hex": "0x%x" % address, "length": length,
                   "vma": self._vma(pid, address), "missing": self._missing(pid, address, length, parent_index)}
            if dest:
                if sink is not None:
                    sink.commit()
                    sink = None
                out["dest"] = dest
                self.result["changed"] = True
            else:
                out["hexdump"] = hexdump(bytes(copy.targets[0][2].data), address)
            self.result["read"] = out
        finally:
            if isinstance(sink, _FileSink):
                sink.discard()
            if dirfd is not None:
                os.close(dirfd)

    def _write(self, spec):
        if spec.get("pid") is None:
            raise CheckpointError("write.pid", "is required: the process whose memory to write")
        if not self.params.get("dest"):
            raise CheckpointError("write", "needs dest: a directory (whole process) or a file (one VMA)")
        pid, dest = spec["pid"], self.params["dest"]
        self._describe(self._scan(self.params["path"]), [pid])
        proc = self.processes[pid]
        if proc.pagemap is None:
            raise CheckpointError("write.pid", "process %d has no memory in this checkpoint" % pid)
        if spec.get("vma") is not None:
            vma = proc.vma_at(_address(spec["vma"], "write.vma"))
            if vma is None:
                raise CheckpointError("write.vma", "no VMA of pid %d holds address %s" % (pid, spec["vma"]))
            dirfd, name = _file_dest(dest, self.check_mode)
            names = [(vma, name)]
        else:
            dirfd = _open_dir(dest, True, self.check_mode)
            # Names come from numbers only, so nothing can land outside dest.
            names = [(vma, "%016x-%016x.bin" % (vma.start, vma.end)) for vma in proc.vmas
                     if proc.pagemap.state_sizes(vma.start, vma.end)["present"]
                     or (self.params.get("parent") and proc.pagemap.state_sizes(vma.start, vma.end)["parent"])]
        written, sinks = [], []
        try:
            if not self.check_mode:
                sinks = [_FileSink(dirfd, name, vma.start, vma.size) for vma, name in names]
                copy = Copy(pid, [(sink.base, sink.base + sink.size, sink) for sink in sinks])
                self._scan(self.params["path"], [copy], [pid])
                self._parent_pass([copy])
                for sink in sinks:
                    sink.commit()
                sinks = []
            for vma, name in names:
                entry = vma.brief()
                entry.update(file=dest if spec.get("vma") is not None else os.path.join(dest, name), size=vma.size,
                             dumped_size=proc.pagemap.state_sizes(vma.start, vma.end)["present"])
                written.append(entry)
        finally:
            for sink in sinks:
                sink.discard()
            if dirfd is not None:
                os.close(dirfd)
        self.result.update(written=written, changed=bool(written))


def run(params, check_mode=False):
    """The checkpoint_memory module's work: ``params`` as the module receives them."""
    return _Request(params, check_mode).run()
