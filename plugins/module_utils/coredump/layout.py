# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A process's VMAs as the PT_LOAD layout of its core, its file-backed mappings (NT_FILE, and the
pages read back from the container's files when CRIU left them out because they equal the file).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import struct

from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.writer import (
    COPY_CHUNK,
    PAGE_SIZE,
    headers_size,
    note,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names as criu_names
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError

NT_FILE = 0x46494C45
PF_X, PF_W, PF_R = 1, 2, 4
PROT_READ, PROT_WRITE, PROT_EXEC = criu_names.PROT_READ, criu_names.PROT_WRITE, criu_names.PROT_EXEC
MAX_SYMLINKS = 40
PIECE_PAGES, PIECE_ELSEWHERE, PIECE_NOT_DUMPED = "pages", "elsewhere", "not dumped"


def _round_up(value, align):
    return (value + align - 1) // align * align

# -- the container's files -------------------------------------------------------------------------


class RootDir(object):
    """A directory standing for the container's ``/`` (an extracted image, say).

    Paths are resolved as if chrooted: absolute symlinks and ``..`` stop at the root, every step is
    an ``openat`` with O_NOFOLLOW on a directory already opened, so nothing outside is ever opened.
    """

    def __init__(self, path):
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise CheckpointError(path, "cannot open the root directory (%s)" % (exc.strerror or exc).lower())

    def open(self, path):
        """(fd, None) for the regular file at container path ``path``, or (None, why not)."""
        pending = [part for part in path.split("/") if part]
        stack = []  # directory fds from the root down; the root's own fd is never closed here
        current = self._fd
        links = 0
        try:
            while pending:
                name = pending.pop(0)
                if name == ".":
                    continue
                if name == "..":
                    if stack:
                        os.close(current)
                        current = stack.pop()
                    continue
                info = os.stat(name, dir_fd=current, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    links += 1
                    if links > MAX_SYMLINKS:
                        return None, "too many symbolic links"
                    target = os.readlink(name, dir_fd=current)
                    if target.startswith("/"):
                        while stack:
                            os.close(current)
                            current = stack.pop()
                    pending[:0] = [part for part in target.split("/") if part]
                    continue
                if pending:
                    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current)
                    stack.append(current)
                    current = fd
                    continue
                if not stat.S_ISREG(info.st_mode):
                    return None, "not a regular file"
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=current)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    return None, "not a regular file"
                return fd, None
            return None, "is a directory"
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            return None, (getattr(exc, "strerror", None) or str(exc)).lower()
        finally:
            while stack:
                os.close(current)
                current = stack.pop()

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- planning ------------------------------------------------------------------------------------


class Load(object):
    """One VMA as a PT_LOAD segment."""

    __slots__ = ("vma", "offset", "filesz", "file", "flags")

    def __init__(self, vma, offset, filesz, mapped):
        self.vma = vma
        self.offset = offset
        self.filesz = filesz
        self.file = mapped  # (path, size files.img records, deleted) for a file mapping, else None
        self.flags = ((PF_R if vma.prot & PROT_READ else 0) | (PF_W if vma.prot & PROT_WRITE else 0)
                      | (PF_X if vma.prot & PROT_EXEC else 0))

    @property
    def memsz(self):
        return self.vma.end - self.vma.start


class Layout(object):
    """The PT_LOADs of one process (``loads``, in address order, data from ``data_offset`` up to
    ``data_end``) and its NT_FILE note (``file_note``, empty without file mappings).

    ``files``: {file id: (path, recorded size or None, deleted)} of the checkpoint's regular files.
    """

    def __init__(self, pid, mm, pagemap, files):
        self.pagemap = pagemap
        vmas = sorted(mm.vmas, key=lambda vma: vma.start)
        subject = criu_names.mm(pid)
        previous_end = 0
        for index, vma in enumerate(vmas):
            if vma.start % PAGE_SIZE or vma.end % PAGE_SIZE or vma.end <= vma.start or vma.start < previous_end:
                raise ImageError(subject, "VMA %d (0x%x-0x%x) is impossible or overlaps another" % (index, vma.start, vma.end))
            previous_end = vma.end
        self.file_vmas = []
        offset = self.data_offset = _round_up(headers_size(len(vmas)), PAGE_SIZE)
        self.loads = []
        for vma in vmas:
            mapped = None
            if vma.status & (criu_names.VMA_FILE_PRIVATE | criu_names.VMA_FILE_SHARED) and vma.shmid in files:
                mapped = files[vma.shmid]
                self.file_vmas.append((vma, mapped[0] + (" (deleted)" if mapped[2] else "")))  # as the kernel says
            filesz = 0 if self._not_dumpable(vma, mapped) else vma.end - vma.start
            self.loads.append(Load(vma, offset, filesz, mapped))
            offset += filesz
        self.data_end = offset
        self.file_note = self._nt_file() if self.file_vmas else b""

    def _not_dumpable(self, vma, mapped):
        """Areas with no bytes in the core file (filesz 0; memsz keeps the whole area):
        - the kernel's vsyscall and vvar pages (never in the images, not the process's memory);
        - PROT_NONE areas without a dumped page (reservations and guards: the process could not
          read them either, and they can be gigabytes);
        - anonymous areas the pagemap does not mention at all: CRIU found no page there, the
          process never touched them, and they are zeros. gdb reads zeros where memsz exceeds
          filesz outside file mappings (corelow.c: sections without contents "read as all zero"),
          so what it shows is unchanged, and a 1 TiB reservation costs neither disk nor hashing.
        File mappings keep their bytes: without contents gdb would read the analyst's own copy of
        the file named in NT_FILE, not what the process saw."""
        if vma.status & (criu_names.VMA_AREA_VSYSCALL | criu_names.VMA_AREA_VVAR):
            return True
        states = self.pagemap.states(vma.start, vma.end - vma.start)
        if not vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
            return all(offset is None for _state, offset, _length in states)
        return mapped is None and all(state == "unmapped" for state, _offset, _length in states)

    def _nt_file(self):
        entries = [struct.pack("<QQQ", vma.start, vma.end, vma.pgoff // PAGE_SIZE) for vma, _name in self.file_vmas]
        names = [name.encode("utf-8", "surrogateescape") + b"\0" for _vma, name in self.file_vmas]
        return note("CORE", NT_FILE, struct.pack("<QQ", len(entries), PAGE_SIZE) + b"".join(entries) + b"".join(names))

    def pieces(self, load):
        """[address, kind, pages offset, length] over the VMA, runs of one kind merged."""
        pieces = []
        address = load.vma.start
        for offset, length in self.pagemap.locate(address, load.filesz):
            if offset is not None:
                kind = PIECE_PAGES
            elif self.pagemap.run_at(address) is not None:
                kind = PIECE_ELSEWHERE
            else:
                kind = PIECE_NOT_DUMPED
            last = pieces[-1] if pieces else None
            if last and last[1] == kind and (kind != PIECE_PAGES or last[2] + last[3] == offset):
                last[3] += length
            else:
                pieces.append([address, kind, offset, length])
            address += length
        return pieces


class MappedFiles(object):
    """File-backed memory CRIU left out because it equals the file: read from ``root`` (a RootDir)
    when given, zeros otherwise (counted in ``zero_bytes`` per path for the warning)."""

    def __init__(self, pid, root, warnings):
        self.pid, self.root, self.warnings = pid, root, warnings
        self.zero_bytes = {}
        self._fds = {}

    def fill(self, out, load, address, length):
        path, recorded_size, deleted = load.file
        fd = self._open(path, recorded_size, deleted)
        if fd is None:
            self.zero_bytes[path] = self.zero_bytes.get(path, 0) + length
            out.zeros(length)
            return
        position = load.vma.pgoff + address - load.vma.start
        while length:
            data = os.pread(fd, min(length, COPY_CHUNK), position)
            if not data:
                break  # past the end of the file (the process would get SIGBUS): zeros
            out.write(data)
            position += len(data)
            length -= len(data)
        out.zeros(length)

    def _open(self, path, recorded_size, deleted):
        if path not in self._fds:
            fd = None
            if self.root is not None and not deleted:
                fd, problem = self.root.open(path)
                if fd is None:
                    self.warnings.append("pid %d: %s is not readable under %s (%s)"
                                         % (self.pid, path, self.root.path, problem))
                elif recorded_size is not None and os.fstat(fd).st_size != recorded_size:
                    self.warnings.append("pid %d: %s under %s is %d bytes, the mapped file was %d: the pages read "
                                         "from it may not be what the process saw"
                                         % (self.pid, path, self.root.path, os.fstat(fd).st_size, recorded_size))
            self._fds[path] = fd
        return self._fds[path]

    def close(self):
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)
        self._fds = {}
