# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process memory as CRIU dumped it: pagemap runs mapped onto the pages image, VMAs, processes.

Pages are mapped the way CRIU restores them: only PE_PRESENT runs advance the offset in
``pages-<id>.img``; parent (PE_PARENT) and lazy (PE_LAZY) runs have no bytes here. A pagemap is
checked against its pages image before it is trusted, so a lying pagemap yields a one-line error
instead of a huge allocation or a read past the data. Reads are random access (pread on plain
tars); nothing is copied to a temporary directory. Bulk work over the pages (search, strings,
dumps) is in scan.py and queries.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
from array import array

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape

PAGE_SIZE = names.PAGE_SIZE
# x86-64 and aarch64 user space end below 2**48 (2**56 with 5-level paging); anything past is a lie.
MAX_VADDR = 1 << 57

# The first bit that matches names the kind: a heap or a stack is also anonymous private memory.
VMA_KINDS = (
    (names.VMA_AREA_VSYSCALL, "vsyscall"), (names.VMA_AREA_VDSO, "vdso"), (names.VMA_AREA_VVAR, "vvar"),
    (names.VMA_AREA_HEAP, "heap"), (names.VMA_AREA_STACK, "stack"), (names.VMA_AREA_SYSVIPC, "sysvipc"),
    (names.VMA_AREA_SOCKET, "socket"), (names.VMA_AREA_AIORING, "aio"), (names.VMA_AREA_MEMFD, "memfd"),
    (names.VMA_FILE_PRIVATE | names.VMA_FILE_SHARED, "file"), (names.VMA_ANON_SHARED, "shared"),
    (names.VMA_ANON_PRIVATE, "anon"),
)
pagemap_name = names.pagemap
pages_name = names.pages


class Run(object):
    """A pagemap entry: ``nr_pages`` pages at ``vaddr``; ``offset`` in the pages image if present."""

    __slots__ = ("vaddr", "nr_pages", "flags", "offset")

    def __init__(self, vaddr, nr_pages, flags, offset):
        self.vaddr = vaddr
        self.nr_pages = nr_pages
        self.flags = flags
        self.offset = offset

    @property
    def end(self):
        return self.vaddr + self.nr_pages * PAGE_SIZE

    @property
    def size(self):
        return self.nr_pages * PAGE_SIZE

    @property
    def present(self):
        return self.offset is not None

    @property
    def state(self):
        return _state(self.flags, -1 if self.offset is None else self.offset)


def _state(flags, offset):
    if offset >= 0:
        return "present"
    return "lazy" if flags & names.PE_LAZY else "parent"


class Runs(object):
    """A pagemap's runs packed in four arrays (a Run object each took ~150 bytes: a pagemap of 1M
    one-page entries held 1.2 GB); Run objects are made only for whoever asks for one."""

    __slots__ = ("vaddr", "nr_pages", "flags", "offset")

    def __init__(self, runs=()):
        self.vaddr, self.nr_pages, self.flags, self.offset = array("Q"), array("Q"), array("Q"), array("q")
        for run in runs:
            self.append(run.vaddr, run.nr_pages, run.flags, run.offset)

    def append(self, vaddr, nr_pages, flags, offset):
        self.vaddr.append(vaddr)
        self.nr_pages.append(nr_pages)
        self.flags.append(flags)
        self.offset.append(-1 if offset is None else offset)

    def __len__(self):
        return len(self.vaddr)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[one] for one in range(*index.indices(len(self)))]
        offset = self.offset[index]
        return Run(self.vaddr[index], self.nr_pages[index], self.flags[index], None if offset < 0 else offset)

    def __iter__(self):
        for vaddr, count, flags, offset in zip(self.vaddr, self.nr_pages, self.flags, self.offset):
            yield Run(vaddr, count, flags, None if offset < 0 else offset)

    def packed(self, start=0):
        """(vaddr, end, state, offset or -1) from index ``start`` on, no objects made."""
        if start:  # from an index on: no slice (a copy of the arrays' tail per call)
            vaddrs, counts, flags, offsets = self.vaddr, self.nr_pages, self.flags, self.offset
            for index in range(start, len(vaddrs)):
                vaddr, offset = vaddrs[index], offsets[index]
                yield vaddr, vaddr + counts[index] * PAGE_SIZE, _state(flags[index], offset), offset
            return
        for vaddr, count, flags, offset in zip(self.vaddr, self.nr_pages, self.flags, self.offset):
            yield vaddr, vaddr + count * PAGE_SIZE, _state(flags, offset), offset


class PageMap(object):
    """The validated pagemap of one process."""

    def __init__(self, pid, runs, pages, pages_size):
        self.pid = pid
        self.runs = runs if isinstance(runs, Runs) else Runs(runs)
        self.pages = pages
        self.pages_size = pages_size
        self._starts = self.runs.vaddr

    @classmethod
    def of(cls, archive, pid):
        """The pagemap of ``pid`` in the opened ``archive``, built once and shared through its
        process tree (the decoded image is dropped once the runs are built)."""
        tree = ProcessTree.of(archive)
        key = ("pagemap", pid)
        if key not in tree.memo:
            name = pagemap_name(pid)
            tree.memo[key] = pagemap = cls.from_image(archive, pid, tree.image(name, "PAGEMAP"))
            tree.memo[("pages", pid)] = pagemap.pages
            tree.forget(name)
        return tree.memo[key]

    @staticmethod
    def built(archive, pid):
        """The pagemap of ``pid`` if PageMap.of built it already, else None."""
        return ProcessTree.of(archive).memo.get(("pagemap", pid))

    @classmethod
    def load(cls, archive, pid):
        return cls.from_image(archive, pid, criu_images.load(archive, pagemap_name(pid), expect="PAGEMAP"))

    @classmethod
    def from_image(cls, archive, pid, image):
        name = pagemap_name(pid)
        head = image.first()
        pages = pages_name(head.pages_id)
        if not archive.has(pages):
            raise ImageError(name, "its pages image %s is missing" % pages)
        pages_size = archive.regular(pages).size
        return cls(pid, cls._runs(name, image.entries[1:], pages_size), pages, pages_size)

    @staticmethod
    def _runs(name, entries, pages_size):
        runs, offset, last_end = Runs(), 0, 0
        pages_of, flags_of, present = criu_images.pagemap_pages, criu_images.pagemap_flags, names.PE_PRESENT
        for index, entry in enumerate(entries):
            vaddr, count, flags = entry.vaddr, pages_of(entry), flags_of(entry)
            if vaddr % PAGE_SIZE or count <= 0 or vaddr + count * PAGE_SIZE > MAX_VADDR:
                raise ImageError(name, "entry %d is impossible (vaddr 0x%x, %d pages)" % (index, vaddr, count))
            if vaddr < last_end:
                raise ImageError(name, "entry %d at 0x%x overlaps the previous one (ending at 0x%x)"
                                 % (index, vaddr, last_end))
            if flags & present:
                runs.append(vaddr, count, flags, offset)
                offset += count * PAGE_SIZE
                if offset > pages_size:
                    raise ImageError(name, "entry %d points past the end of the pages image (%d > %d bytes)"
                                     % (index, offset, pages_size))
            else:
                runs.append(vaddr, count, flags, None)
            last_end = vaddr + count * PAGE_SIZE
        return runs

    @property
    def present_size(self):
        return sum(count for count, offset in zip(self.runs.nr_pages, self.runs.offset) if offset >= 0) * PAGE_SIZE

    def _index_at(self, address):
        return bisect.bisect_right(self._starts, address) - 1

    def run_at(self, address):
        """The run holding ``address``, or None."""
        index = self._index_at(address)
        if index >= 0 and address < self._starts[index] + self.runs.nr_pages[index] * PAGE_SIZE:
            return self.runs[index]
        return None

    def segments(self):
        """Maximal (vaddr, offset, length) stretches that are contiguous both in memory and in the
        pages image: a search over one segment sees every byte sequence the process saw there."""
        current = None
        for vaddr, end, _state_name, offset in self.runs.packed():
            if offset < 0:
                if current:
                    yield tuple(current)
                current = None
                continue
            if current and current[0] + current[2] == vaddr and current[1] + current[2] == offset:
                current[2] += end - vaddr
            else:
                if current:
                    yield tuple(current)
                current = [vaddr, offset, end - vaddr]
        if current:
            yield tuple(current)

    def states(self, address, length):
        """Pieces ``[(state, offset or None, length)]`` covering ``length`` bytes from ``address``;
        state is present, parent, lazy or unmapped (not in the pagemap at all)."""
        pieces = []
        while length > 0:
            run = self.run_at(address)
            if run is None:
                index = bisect.bisect_right(self._starts, address)
                gap = (self._starts[index] - address) if index < len(self.runs) else length
                step = min(length, gap)
                pieces.append(("unmapped", None, step))
            else:
                step = min(length, run.end - address)
                pieces.append((run.state, run.offset + address - run.vaddr if run.present else None, step))
            address += step
            length -= step
        return pieces

    def locate(self, address, length):
        """Pieces ``[(offset or None, length)]`` covering ``length`` bytes from ``address``
        (None where the memory is not in this pages image: unmapped, parent or lazy)."""
        return [(offset, size) for _state, offset, size in self.states(address, length)]

    def ranges(self, state):
        """Merged ``[(start, end)]`` address ranges of the runs in ``state`` (present, parent, lazy)."""
        merged = []
        for vaddr, end, kind, _offset in self.runs.packed():
            if kind == state:
                if merged and merged[-1][1] == vaddr:
                    merged[-1][1] = end
                else:
                    merged.append([vaddr, end])
        return [tuple(pair) for pair in merged]

    def clipped_segments(self, clip=None):
        """segments() limited to the sorted, disjoint address ranges ``clip`` (None: everything)."""
        for vaddr, offset, length in self.segments():
            if clip is None:
                yield vaddr, offset, length
                continue
            end = vaddr + length
            for start, stop in clip[max(0, bisect.bisect_right(clip, (vaddr,)) - 1):]:
                if start >= end:
                    break
                low, high = max(start, vaddr), min(stop, end)
                if low < high:
                    yield low, offset + low - vaddr, high - low

    @property
    def memory_size(self):
        """Every page the pagemap lists, present or not (checkpointctl memparse's memory size)."""
        return sum(self.runs.nr_pages) * PAGE_SIZE

    def state_sizes(self, start=0, end=MAX_VADDR):
        """Bytes of [start, end) per state: {present, parent, lazy}."""
        sizes = {"present": 0, "parent": 0, "lazy": 0}
        for vaddr, run_end, state, _offset in self.runs.packed(max(0, self._index_at(start))):
            if vaddr >= end:
                break
            overlap = min(end, run_end) - max(start, vaddr)
            if overlap > 0:
                sizes[state] += overlap
        return sizes


class ProcessMemory(object):
    """Random-access reads of one process's dumped memory, through a pages reader.

    ``reader(offset, length)`` returns bytes of the pages image (a MemberReader's ``read_at`` for a
    plain tar, or captured ranges for a compressed archive).
    """

    def __init__(self, pagemap, reader):
        self.pagemap = pagemap
        self._reader = reader

    def read(self, address, length, fill=None):
        """``length`` bytes at ``address``; where memory was not dumped, ``fill`` bytes if given,
        else ImageError."""
        out = []
        for offset, size in self.pagemap.locate(address, length):
            if offset is None:
                if fill is None:
                    raise ImageError(self.pagemap.pages, "pid %d: address 0x%x is not in the dump"
                                     % (self.pagemap.pid, address))
                out.append(fill * size)
            else:
                data = self._reader(offset, size)
                if len(data) != size:
                    raise ImageError(self.pagemap.pages, "short read at offset %d" % offset)
                out.append(data)
            address += size
        return b"".join(out)

    def read_strings(self, start, end, limit=1 << 20):
        """NUL-separated strings in [start, end) (argv and environ blocks), capped at ``limit``."""
        if end <= start:
            return []
        data = self.read(start, min(end - start, limit), fill=b"\0")
        return [part.decode("utf-8", "backslashreplace") for part in data.split(b"\0") if part]


def hexdump(data, address):
    """``hexdump -C`` lines for ``data`` read at ``address`` (the address column is the virtual address)."""
    lines = []
    for index in range(0, len(data), 16):
        row = data[index:index + 16]
        hexes = " ".join("%02x" % byte for byte in row[:8]) + "  " + " ".join("%02x" % byte for byte in row[8:])
        text = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in row)
        lines.append("%016x  %-48s  |%s|" % (address + index, hexes, text))
    return lines


_PRINTABLE = [chr(byte) if 32 <= byte < 127 and byte != 92 else "\\x%02x" % byte for byte in range(256)]
_PRINTABLE[92] = "\\\\"


def printable(data):
    """Bytes as text that survives JSON and terminals: printable ASCII as is, the rest as \\xNN."""
    return "".join([_PRINTABLE[byte] for byte in bytearray(data)])


class Vma(object):
    """One virtual memory area from ``mm-<pid>.img``, named the way /proc/<pid>/maps would."""

    __slots__ = ("start", "end", "prot", "flags", "status", "pgoff", "kind", "path")

    def __init__(self, entry, paths, start_stack=0):
        self.start = entry.start
        self.end = entry.end
        self.prot = entry.prot
        self.flags = entry.flags
        self.status = entry.status
        self.pgoff = entry.pgoff
        self.kind = next((name for bit, name in VMA_KINDS if entry.status & bit), "other")
        # CRIU does not always flag the main stack: the kernel's MAP_GROWSDOWN or the saved stack
        # pointer tell it apart from other anonymous memory.
        if self.kind == "anon" and (entry.flags & names.MAP_GROWSDOWN or self.start <= start_stack < self.end):
            self.kind = "stack"
        # For file mappings shmid is the id of the file in files.img.
        self.path = paths.get(entry.shmid) if entry.status & (names.VMA_FILE_PRIVATE | names.VMA_FILE_SHARED) else None

    @property
    def size(self):
        return self.end - self.start

    @property
    def shared(self):
        return bool(self.flags & names.MAP_SHARED)

    @property
    def perms(self):
        return "".join((
            "r" if self.prot & names.PROT_READ else "-",
            "w" if self.prot & names.PROT_WRITE else "-",
            "x" if self.prot & names.PROT_EXEC else "-",
            "s" if self.shared else "p",
        ))

    def brief(self):
        return {"start": self.start, "end": self.end, "start_hex": "0x%x" % self.start, "end_hex": "0x%x" % self.end,
                "perms": self.perms, "kind": self.kind, "path": escape(self.path)}


_VMA_FIELDS = ("start", "end", "prot", "flags", "status", "pgoff", "shmid")


class Vmas(object):
    """A process's VMAs sorted by start, packed in arrays (a Vma object each took ~180 bytes: an mm
    image of 540k VMAs held 1 GB); Vma objects are made only for whoever asks for one."""

    def __init__(self, entries, paths, start_stack=0):
        self.paths, self.start_stack = paths, start_stack
        fields = [array("Q") for _name in _VMA_FIELDS]
        for entry in entries:
            for column, name in zip(fields, _VMA_FIELDS):
                column.append(getattr(entry, name))
        order = sorted(range(len(fields[0])), key=fields[0].__getitem__)
        if any(order[index] != index for index in range(len(order))):
            fields = [array("Q", (column[index] for index in order)) for column in fields]
        del order
        self.start, self.end, self.prot, self.flags, self.status, self.pgoff, self.shmid = fields

    def __len__(self):
        return len(self.start)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[one] for one in range(*index.indices(len(self)))]
        columns = (self.start, self.end, self.prot, self.flags, self.status, self.pgoff, self.shmid)
        return Vma(_Fields(*(column[index] for column in columns)), self.paths, self.start_stack)

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


class _Fields(object):
    """The fields of one mm image VMA entry that Vma reads."""

    __slots__ = _VMA_FIELDS

    def __init__(self, *values):
        for name, value in zip(_VMA_FIELDS, values):
            setattr(self, name, value)


def file_paths(archive):
    """``{file id: path}`` (``get`` only) of the regular files the dump knows (the process tree's
    table, looked up by id: 300k files copied into a dict held 60 MB)."""
    return ProcessTree.of(archive).regular_files().paths


class Process(object):
    """A dumped process: its name, VMAs and pagemap (None for a zombie, which has no memory)."""

    def __init__(self, pid, comm, vmas, pagemap):
        self.pid = pid
        self.comm = comm
        self.vmas = vmas
        self.pagemap = pagemap
        self._starts = vmas.start if isinstance(vmas, Vmas) else tuple(vma.start for vma in vmas)

    def vma_at(self, address):
        index = bisect.bisect_right(self._starts, address) - 1
        if index >= 0 and address < self.vmas[index].end:
            return self.vmas[index]
        return None

    @property
    def memory_size(self):
        return self.pagemap.memory_size if self.pagemap else 0

    @property
    def shared_size(self):
        """Bytes of MAP_SHARED mappings (checkpointctl memparse's shared memory size)."""
        if isinstance(self.vmas, Vmas):
            return sum(end - start for start, end, flags in zip(self.vmas.start, self.vmas.end, self.vmas.flags)
                       if flags & names.MAP_SHARED)
        return sum(vma.size for vma in self.vmas if vma.shared)

    def describe(self, max_vmas=None):
        """The process and (the first ``max_vmas`` of) its VMAs."""
        sizes = self.pagemap.state_sizes() if self.pagemap else {"present": 0, "parent": 0, "lazy": 0}
        vmas = []
        for vma in self.vmas[:max_vmas]:
            entry = vma.brief()
            entry["size"] = vma.size
            in_vma = self.pagemap.state_sizes(vma.start, vma.end) if self.pagemap else sizes
            entry.update(dumped_size=in_vma["present"], parent_size=in_vma["parent"], lazy_size=in_vma["lazy"])
            vmas.append(entry)
        return {"pid": self.pid, "comm": escape(self.comm), "memory_size": self.memory_size, "shared_size": self.shared_size,
                "dumped_size": sizes["present"], "parent_size": sizes["parent"], "lazy_size": sizes["lazy"],
                "pages": self.pagemap.pages if self.pagemap else None, "vmas": vmas}


def process_ids(archive):
    """Pids in pstree order (the container's first process first)."""
    return ProcessTree.of(archive).pids()


def load_processes(archive, pids=None):
    """The processes ``pids`` (every one when None) with their VMAs and validated pagemaps, from
    the archive's one process tree."""
    tree = ProcessTree.of(archive)
    known = tree.pids()
    wanted = set(pids or ())  # sets: a pstree may list 100k pids, and so may ``pids``
    missing = wanted.difference(known)
    if missing:
        raise CheckpointError("pid", "no process %d in this checkpoint (it has %s)" % (min(missing), tree.known_pids()))
    paths = None
    processes = []
    for task in tree.tasks:
        if wanted and task.pid not in wanted:
            continue
        mm = None if task.zombie else task.mm
        if mm is None:
            processes.append(Process(task.pid, task.comm, (), None))  # one empty tuple for 100k of them
            continue
        if paths is None:
            paths = file_paths(archive)
        vmas = Vmas(mm.vmas, paths, mm.mm_start_stack)
        pagemap = PageMap.of(archive, task.pid) if archive.has(pagemap_name(task.pid)) else None
        processes.append(Process(task.pid, task.comm, vmas, pagemap))
    return processes
