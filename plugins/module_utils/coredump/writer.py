# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ELF core emission: headers, notes, and the core file written front to back, hashed as written.

File layout: ELF header, program headers, then the PT_LOAD data page-aligned in address order, then
the notes. Every note's ``descsz`` is its exact content (padding is not counted, so gdb's NT_FILE
check passes). Zeros are left as holes; the SHA-256 is computed while writing (on a second thread),
never by reading the core back. Nothing bigger than a copy buffer is held in memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import mmap
import os
import queue
import struct
import threading

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
NHDR = struct.Struct("<III")
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF

EM_X86_64 = 62
EM_AARCH64 = 183
PAGE_SIZE = 4096
COPY_CHUNK = 4 * 1024 * 1024
HASH_WINDOW = 16 * 1024 * 1024
MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Python 3.10+; 0 just means faulting pages in
# Holes are hashed from this one buffer, in large steps: SHA-256 has to see every zero byte, so
# the cost is the hash's own speed, with no allocation or queueing per step.
ZEROS = memoryview(bytes(HASH_WINDOW))


def note(name, ntype, desc):
    """One ELF note: name and desc each padded to 4 bytes; descsz is the unpadded length."""
    name = name.encode("ascii") + b"\0"
    return b"".join((NHDR.pack(len(name), len(desc), ntype), name, b"\0" * (-len(name) % 4),
                     desc, b"\0" * (-len(desc) % 4)))


def elf_headers(arch, loads, notes_offset, notes_size):
    """ELF header, PT_NOTE and one PT_LOAD per ``loads`` item (offset, vaddr, filesz, memsz, flags);
    past 65534 segments the real count goes in section header 0 (extended numbering)."""
    phnum = 1 + len(loads)
    machine = EM_X86_64 if arch == "x86_64" else EM_AARCH64
    ident = b"\x7fELF" + bytes((2, 1, 1, 0)) + bytes(8)  # 64-bit, little-endian, version 1, System V
    extended = phnum >= PN_XNUM
    shoff = EHDR.size + phnum * PHDR.size if extended else 0
    out = [EHDR.pack(ident, ET_CORE, machine, 1, 0, EHDR.size, shoff, 0, EHDR.size, PHDR.size,
                     PN_XNUM if extended else phnum, SHDR.size if extended else 0, 1 if extended else 0, 0),
           PHDR.pack(PT_NOTE, 0, notes_offset, 0, 0, notes_size, 0, 4)]
    for load in loads:
        out.append(PHDR.pack(PT_LOAD, load.flags, load.offset, load.vma.start, 0, load.filesz, load.memsz, PAGE_SIZE))
    if extended:  # the real segment count lives in section header 0's sh_info
        out.append(SHDR.pack(0, 0, 0, 0, 0, 0, 0, phnum, 0, 0))
    return b"".join(out)


def headers_size(segments):
    """Bytes of elf_headers() for ``segments`` PT_LOADs."""
    phnum = 1 + segments
    return EHDR.size + phnum * PHDR.size + (SHDR.size if phnum >= PN_XNUM else 0)

# -- output ----------------------------------------------------------------------------------------


class _Hasher(object):
    """SHA-256 on a second thread (hashlib and pread drop the GIL), overlapping the copying.

    It is fed bytes, or ranges of a file it reads itself: data copied in the kernel is hashed from
    the page cache without the writing thread ever touching it.
    """

    def __init__(self):
        self._digest = hashlib.sha256()
        self._queue = queue.Queue(8)
        self._error = None
        self._thread = threading.Thread(target=self._run, name="coredump-sha256")
        self._thread.daemon = True
        self._thread.start()

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # keep draining, or the writer would block on a full queue
            try:
                if isinstance(item, int):
                    self._hash_zeros(item)
                elif isinstance(item, tuple):
                    self._hash_range(*item)
                else:
                    self._digest.update(item)
            except Exception as exc:  # reported by hexdigest(); the thread must not die silently
                self._error = "hashing failed (%s)" % exc

    def _hash_range(self, fd, offset, length):
        # Mapped in windows rather than read: the pages are in the page cache (being copied), hashing
        # them in place saves a copy, and unmapping each window keeps them out of our RSS. Python
        # refuses a map past the end of the file; the archive is evidence nobody truncates.
        while length and self._error is None:
            start = offset - offset % mmap.ALLOCATIONGRANULARITY
            size = min(length, HASH_WINDOW)
            try:
                window = mmap.mmap(fd, offset - start + size, flags=mmap.MAP_SHARED | MAP_POPULATE,
                                   prot=mmap.PROT_READ, offset=start)
            except (OSError, ValueError):
                data = os.pread(fd, size, offset)
                if len(data) != size:
                    self._error = "the source ended while it was being hashed"
                self._digest.update(data)
            else:
                with memoryview(window) as view:
                    self._digest.update(view[offset - start:])
                window.close()
            offset += size
            length -= size

    def _hash_zeros(self, length):
        while length:
            step = min(length, len(ZEROS))
            self._digest.update(ZEROS[:step])
            length -= step

    def update(self, data):
        """Hash immutable bytes (or a view of them)."""
        self._queue.put(data)

    def update_zeros(self, length):
        """Hash ``length`` zero bytes (one queue item, however long the run)."""
        self._queue.put(length)

    def update_range(self, fd, offset, length):
        """Hash ``length`` bytes of ``fd`` at ``offset``; ``fd`` must stay open until hexdigest()."""
        self._queue.put((fd, offset, length))

    def hexdigest(self):
        self.stop()
        if self._error:
            raise CheckpointError("sha256", self._error)
        return self._digest.hexdigest()

    def stop(self):
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class Output(object):
    """Sequential writing to a core file by position: data, holes for zeros, in-kernel copies."""

    def __init__(self, fd, checksum):
        self.fd = fd
        self.position = 0
        self._hasher = _Hasher() if checksum else None
        self._kernel_copy = hasattr(os, "copy_file_range")

    def write(self, data):
        """Write immutable bytes."""
        self._pwrite(memoryview(data))
        if self._hasher is not None:
            self._hasher.update(data)

    def _pwrite(self, view):
        while len(view):
            written = os.pwrite(self.fd, view, self.position)
            view = view[written:]
            self.position += written

    def zeros(self, length):
        """``length`` zero bytes, left as a hole."""
        self.position += length
        if self._hasher is not None and length:
            self._hasher.update_zeros(length)

    def skip_to(self, offset):
        if offset < self.position:
            raise ValueError("core layout went backwards (%d < %d)" % (offset, self.position))
        self.zeros(offset - self.position)

    def copy_from(self, fd, offset, length, subject):
        """``length`` bytes of ``fd`` at ``offset``, copied in the kernel (copy_file_range) where the
        file systems allow it, else with large preads. ``fd`` must stay open until finish()."""
        if self._hasher is not None:
            # hashed from the source by the other thread while this one copies: the two overlap
            self._hasher.update_range(fd, offset, length)
        while length and self._kernel_copy:
            try:
                copied = os.copy_file_range(fd, self.fd, length, offset, self.position)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                self._kernel_copy = False
                break
            if not copied:
                raise ImageError(subject, "ends %d bytes early" % length)
            offset += copied
            length -= copied
            self.position += copied
        while length:
            data = os.pread(fd, min(length, COPY_CHUNK), offset)
            if not data:
                raise ImageError(subject, "ends %d bytes early" % length)
            self._pwrite(memoryview(data))
            offset += len(data)
            length -= len(data)

    def finish(self):
        """Set the final size (a trailing hole needs it) and return the SHA-256, if computed. The
        data goes to disk (fsync, which the Destination's commit would do anyway) while the other
        thread is still hashing, so the two overlap."""
        os.ftruncate(self.fd, self.position)
        os.fsync(self.fd)
        return self._hasher.hexdigest() if self._hasher is not None else None

    def abandon(self):
        if self._hasher is not None:
            self._hasher.stop()


# -- cores on disk ---------------------------------------------------------------------------------


def core_name(pid):
    return "core.%d" % pid


class CoreFile(object):
    """A core being written: a Destination's pending file, renamed into place when complete."""

    def __init__(self, destination, dest, name, checksum):
        self.name = name
        self.path = os.path.join(dest, name)
        self.pending = destination.new_file(name)
        self.output = Output(self.pending.open_fd(), checksum)

    def commit(self):
        try:
            sha256 = self.output.finish()
            size = os.fstat(self.output.fd).st_size
        finally:
            os.close(self.output.fd)
        self.pending.commit()
        return size, sha256

    def discard(self):
        if self.pending.tmp is not None:
            self.output.abandon()
            try:
                os.close(self.output.fd)
            except OSError:
                pass
            self.pending.discard()
