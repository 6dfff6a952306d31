# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process memory as CRIU dumped it: pagemap runs mapped onto the pages image.

Pages are mapped the way CRIU restores them: only PE_PRESENT runs advance the offset in
``pages-<id>.img``; parent (PE_PARENT) and lazy (PE_LAZY) runs have no bytes here. A pagemap is
checked against its pages image before it is trusted, so a lying pagemap yields a one-line error
instead of a huge allocation or a read past the data. Reads are random access (pread on plain
tars); nothing is copied to a temporary directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect

from ansible_collections.forensic.checkpoint.plugins.module_utils import criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ImageError

PAGE_SIZE = 4096
# x86-64 and aarch64 user space end below 2**48 (2**56 with 5-level paging); anything past is a lie.
MAX_VADDR = 1 << 57


def pagemap_name(pid):
    return "checkpoint/pagemap-%d.img" % pid


def pages_name(pages_id):
    return "checkpoint/pages-%d.img" % pages_id


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
        if self.present:
            return "present"
        return "lazy" if self.flags & criu_images.PE_LAZY else "parent"


class PageMap(object):
    """The validated pagemap of one process."""

    def __init__(self, pid, runs, pages, pages_size):
        self.pid = pid
        self.runs = runs
        self.pages = pages
        self.pages_size = pages_size
        self._starts = [run.vaddr for run in runs]

    @classmethod
    def load(cls, archive, pid):
        name = pagemap_name(pid)
        image = criu_images.load(archive, name, expect="PAGEMAP")
        head = image.first()
        pages = pages_name(head.pages_id)
        if not archive.has(pages):
            raise ImageError(name, "its pages image %s is missing" % pages)
        pages_size = archive.member(pages).size
        return cls(pid, cls._runs(name, image.entries[1:], pages_size), pages, pages_size)

    @staticmethod
    def _runs(name, entries, pages_size):
        runs, offset, last_end = [], 0, 0
        for index, entry in enumerate(entries):
            count = criu_images.pagemap_pages(entry)
            flags = criu_images.pagemap_flags(entry)
            if entry.vaddr % PAGE_SIZE or count <= 0 or entry.vaddr + count * PAGE_SIZE > MAX_VADDR:
                raise ImageError(name, "entry %d is impossible (vaddr 0x%x, %d pages)" % (index, entry.vaddr, count))
            if entry.vaddr < last_end:
                raise ImageError(name, "entry %d at 0x%x overlaps the previous one (ending at 0x%x)"
                                 % (index, entry.vaddr, last_end))
            run = Run(entry.vaddr, count, flags, offset if flags & criu_images.PE_PRESENT else None)
            if run.present:
                offset += run.size
                if offset > pages_size:
                    raise ImageError(name, "entry %d points past the end of the pages image (%d > %d bytes)"
                                     % (index, offset, pages_size))
            runs.append(run)
            last_end = run.end
        return runs

    @property
    def present_size(self):
        return sum(run.size for run in self.runs if run.present)

    def run_at(self, address):
        """The run holding ``address``, or None."""
        index = bisect.bisect_right(self._starts, address) - 1
        if index >= 0 and address < self.runs[index].end:
            return self.runs[index]
        return None

    def segments(self):
        """Maximal (vaddr, offset, length) stretches that are contiguous both in memory and in the
        pages image: a search over one segment sees every byte sequence the process saw there."""
        current = None
        for run in self.runs:
            if not run.present:
                if current:
                    yield tuple(current)
                current = None
                continue
            if current and current[0] + current[2] == run.vaddr and current[1] + current[2] == run.offset:
                current[2] += run.size
            else:
                if current:
                    yield tuple(current)
                current = [run.vaddr, run.offset, run.size]
        if current:
            yield tuple(current)

    def locate(self, address, length):
        """Pieces ``[(offset or None, length)]`` covering ``length`` bytes from ``address``
        (None where the memory is not in this pages image: unmapped, parent or lazy)."""
        pieces = []
        while length > 0:
            run = self.run_at(address)
            if run is None:
                index = bisect.bisect_right(self._starts, address)
                gap = (self.runs[index].vaddr - address) if index < len(self.runs) else length
                step = min(length, gap)
                pieces.append((None, step))
            else:
                step = min(length, run.end - address)
                pieces.append((run.offset + address - run.vaddr if run.present else None, step))
            address += step
            length -= step
        return pieces


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
