# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ELF core files from CRIU images, written streaming.

The layouts come from the Linux ELF core ABI (``struct elf_prstatus``, ``elf_prpsinfo``,
``user_regs_struct``, ``user_fpregs_struct``, the XSAVE standard format, NT_FILE), checked against
what bfd/gdb parse. Where CRIU's own converter goes wrong we do otherwise: every note's ``descsz`` is
its exact content (padding is not counted, so gdb's NT_FILE check passes), the XSTATE note has the
size gdb derives from the XCR0 it finds at byte 464, NT_AUXV holds (type, value) pairs ending in
AT_NULL, and every byte a PT_LOAD claims is in the file (holes for zeros keep that cheap).

File layout: ELF header, program headers, then the PT_LOAD data page-aligned in address order, then
the notes. Notes go last so that a core is written front to back in one pass over the pages image:
the process's arguments (for NT_PRPSINFO) are picked up on the way when the pages are streamed from
a compressed archive. Nothing bigger than a copy buffer is ever held in memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import mmap
import os
import queue
import stat
import struct
import threading

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names as criu_names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PAGE_SIZE, PageMap, ProcessMemory

# -- ELF -----------------------------------------------------------------------------------------

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
NHDR = struct.Struct("<III")
ET_CORE = 4
EM_X86_64 = 62
EM_AARCH64 = 183
PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4
PN_XNUM = 0xFFFF

NT_PRSTATUS = 1
NT_FPREGSET = 2
NT_PRPSINFO = 3
NT_AUXV = 6
NT_X86_XSTATE = 0x202
NT_ARM_TLS = 0x401
NT_SIGINFO = 0x53494749
NT_FILE = 0x46494C45

# -- CRIU ----------------------------------------------------------------------------------------

PROT_READ, PROT_WRITE, PROT_EXEC = criu_names.PROT_READ, criu_names.PROT_WRITE, criu_names.PROT_EXEC
MTYPE_X86_64, MTYPE_AARCH64 = 1, 3
X86_REGS_COMPAT = 2

# elf_prstatus: siginfo (3 ints), pr_cursig, pr_sigpend, pr_sighold, pid/ppid/pgrp/sid, 4 timevals;
# then the architecture's register set and pr_fpvalid.
PRSTATUS_HEAD = struct.Struct("<iiih2xQQiiii64x")
# elf_prpsinfo (identical on x86-64 and aarch64: uid/gid are 32-bit).
PRPSINFO = struct.Struct("<bcbb4xQIIiiii16s80s")
SIGINFO_SIZE = 128
# user_fpregs_struct: cwd, swd, ftw, fop, rip, rdp, mxcsr, mxcsr_mask, st_space[32], xmm_space[64], padding[24]
FXSAVE_HEAD = struct.Struct("<HHHHQQII")
FXSAVE_SIZE = 512
XSAVE_XCR0_OFFSET = 464  # the kernel exports XCR0 in the software-reserved bytes of the FXSAVE area
XSAVE_HEADER_OFFSET = 512

# XSAVE components CRIU records, where the standard (non-compacted) format puts them, their size,
# the pycriu field and its word size. gdb reads the note with these offsets.
XFEATURE_X87_SSE = 0x3
XSAVE_COMPONENTS = (
    # (xfeature bits, offset, size, field, word format)
    (0x4, 576, 256, "ymmh_space", "I"),
    (0x8, 960, 64, "bndreg_state", "Q"),
    (0x10, 1024, 64, "bndcsr_state", "Q"),
    (0x20, 1088, 64, "opmask_reg", "Q"),
    (0x40, 1152, 512, "zmm_upper", "Q"),
    (0x80, 1664, 1024, "hi16_zmm", "Q"),
    (0x200, 2688, 8, "pkru", "I"),
)
XFEATURE_MPX = 0x18
XFEATURE_AVX512 = 0xE0


def xsave_size(xcr0):
    """The NT_X86_XSTATE size gdb expects for ``xcr0`` (it warns about any other)."""
    if xcr0 & 0x200:
        return 2696
    if xcr0 & XFEATURE_AVX512:
        return 2688
    if xcr0 & XFEATURE_MPX:
        return 1088
    if xcr0 & 0x4:
        return 832
    return 576


AT_NULL = 0
COPY_CHUNK = 4 * 1024 * 1024
HASH_WINDOW = 16 * 1024 * 1024
MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Python 3.10+; 0 just means faulting pages in
ZEROS = bytes(COPY_CHUNK)
PRARGSZ = 80
MAX_SYMLINKS = 40


def _round_up(value, align):
    return (value + align - 1) // align * align


def note(name, ntype, desc):
    """One ELF note: name and desc each padded to 4 bytes; descsz is the unpadded length."""
    name = name.encode("ascii") + b"\0"
    return b"".join((NHDR.pack(len(name), len(desc), ntype), name, b"\0" * (-len(name) % 4),
                     desc, b"\0" * (-len(desc) % 4)))


def _words(subject, field, values, count, fmt):
    values = list(values)
    if len(values) > count:
        raise ImageError(subject, "%s holds %d words, more than the %d the register set has" % (field, len(values), count))
    return struct.pack("<%d%s" % (count, fmt), *(values + [0] * (count - len(values))))


# -- registers -----------------------------------------------------------------------------------

X86_GPREGS = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
              "orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")


def x86_gpregs(gpregs):
    """user_regs_struct, whose order the CRIU message follows field for field."""
    return struct.pack("<27Q", *(getattr(gpregs, name) for name in X86_GPREGS))


def x86_fpregset(subject, fpregs):
    """user_fpregs_struct (the FXSAVE image) from CRIU's fpregs."""
    return b"".join((
        FXSAVE_HEAD.pack(fpregs.cwd & 0xFFFF, fpregs.swd & 0xFFFF, fpregs.twd & 0xFFFF, fpregs.fop & 0xFFFF,
                         fpregs.rip, fpregs.rdp, fpregs.mxcsr, fpregs.mxcsr_mask),
        _words(subject, "st_space", fpregs.st_space, 32, "I"),
        _words(subject, "xmm_space", fpregs.xmm_space, 64, "I"),
        _words(subject, "padding", fpregs.padding, 24, "I"),
    ))


def x86_xstate(subject, fpregs, fxsave):
    """(NT_X86_XSTATE contents, XCR0): the components the image holds, at their standard offsets.

    XCR0 claims exactly those components, so the size gdb derives from it is the size written.
    """
    xsave = fpregs.xsave
    xcr0 = XFEATURE_X87_SSE
    parts = []
    for bits, offset, size, field, fmt in XSAVE_COMPONENTS:
        values = getattr(xsave, field)
        if len(values):
            xcr0 |= bits
            parts.append((offset, _words(subject, field, values, size // struct.calcsize(fmt), fmt)))
    # MPX and AVX-512 are enabled as groups; a partial group means the CPU has all of it.
    for group in (XFEATURE_MPX, XFEATURE_AVX512):
        if xcr0 & group:
            xcr0 |= group
    area = bytearray(xsave_size(xcr0))
    area[:FXSAVE_SIZE] = fxsave
    struct.pack_into("<Q", area, XSAVE_XCR0_OFFSET, xcr0)
    struct.pack_into("<Q", area, XSAVE_HEADER_OFFSET, xsave.xstate_bv & xcr0)  # xcomp_bv 0: standard format
    for offset, data in parts:
        area[offset:offset + len(data)] = data
    return bytes(area), xcr0


def aarch64_gpregs(subject, gpregs):
    """user_pt_regs: x0..x30, sp, pc, pstate."""
    return _words(subject, "regs", gpregs.regs, 31, "Q") + struct.pack("<QQQ", gpregs.sp, gpregs.pc, gpregs.pstate)


def aarch64_fpregset(subject, fpsimd):
    """user_fpsimd_state: 32 128-bit vregs (as 64 low/high words), fpsr, fpcr, 8 reserved bytes."""
    return _words(subject, "vregs", fpsimd.vregs, 64, "Q") + struct.pack("<II8x", fpsimd.fpsr, fpsimd.fpcr)


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


def _image(archive, name, expect):
    return criu_images.load(archive, criu_names.image(name), expect=expect)


def _file_names(archive):
    """{file id: (path, recorded size or None, deleted)} for the regular files of files.img."""
    names = {}
    if archive.has(criu_names.FILES):
        for entry in _image(archive, "files.img", "FILES").entries:
            if entry.HasField("reg"):
                names[entry.id] = (entry.reg.name, entry.reg.size if entry.reg.HasField("size") else None, False)
    if archive.has(criu_names.REMAP_FPATH):
        for remap in _image(archive, "remap-fpath.img", "REMAP_FPATH").entries:
            if remap.orig_id in names and remap.remap_type in (criu_names.REMAP_LINKED, criu_names.REMAP_GHOST):
                path, size, _deleted = names[remap.orig_id]
                names[remap.orig_id] = (path, size, True)
    return names


def _pending_mask(queue_entry):
    mask = 0
    for info in queue_entry.signals:
        if len(info.siginfo) >= 4:
            signo, = struct.unpack_from("<i", info.siginfo, 0)
            if 0 < signo <= 64:
                mask |= 1 << (signo - 1)
    return mask


def processes(archive):
    """pstree entries in the order CRIU wrote them."""
    return list(_image(archive, "pstree.img", "PSTREE").entries)


class ZombieError(ImageError):
    """The process is a zombie: CRIU dumped no memory for it."""


class ProcessCore(object):
    """Everything needed to write one process's core, decided before a byte is written."""

    def __init__(self, archive, proc, names, root=None):
        self.pid = proc.pid
        self.proc = proc
        self.warnings = []
        self.root = root
        self.threads = [proc.pid] + [tid for tid in proc.threads if tid != proc.pid]
        self.cores = dict((tid, _image(archive, "core-%d.img" % tid, "CORE").first()) for tid in self.threads)
        leader = self.cores[proc.pid]
        if leader.HasField("tc") and leader.tc.task_state == criu_names.TASK_DEAD:
            raise ZombieError(criu_names.core(proc.pid), "pid %d is a zombie: it has no memory to dump" % proc.pid)
        self.arch = self._arch(leader)
        self._check_ranges(leader)
        self.comm = leader.tc.comm if leader.HasField("tc") else leader.thread_core.comm
        self.mm = _image(archive, "mm-%d.img" % proc.pid, "MM").first()
        self.pagemap = PageMap.load(archive, proc.pid)
        self.pages = archive.regular(self.pagemap.pages)
        self.args = b""
        self._thread_notes = dict((tid, self._register_notes(tid)) for tid in self.threads)
        self._layout(names)

    # -- decisions ----------------------------------------------------------------------------

    def _check_ranges(self, leader):
        """The ids and nice value the notes hold as C ints, checked before packing: a pid_t is 32-bit
        (Linux pids stop at 2^22), nice is -20..19 (a signed char in prpsinfo)."""
        subject = criu_names.core(self.pid)
        for what, value in [("pid", tid) for tid in self.threads] + [
                ("ppid", self.proc.ppid), ("pgid", self.proc.pgid), ("sid", self.proc.sid)]:
            if not 0 <= value < 1 << 31:
                raise ImageError(subject, "%s %d is out of range for a core file (a pid_t is 32-bit)" % (what, value))
        nice = leader.thread_core.sched_nice
        if not -20 <= nice <= 19:
            self.warnings.append("pid %d: sched_nice %d is outside -20..19; written as 0" % (self.pid, nice))
            leader.thread_core.sched_nice = 0

    def _arch(self, leader):
        subject = criu_names.core(self.pid)
        if leader.mtype == MTYPE_X86_64 and leader.HasField("thread_info"):
            if leader.thread_info.gpregs.mode == X86_REGS_COMPAT:
                raise ImageError(subject, "pid %d is a 32-bit (compat) task; only 64-bit cores are written" % self.pid)
            return "x86_64"
        if leader.mtype == MTYPE_AARCH64 and leader.HasField("ti_aarch64"):
            return "aarch64"
        raise ImageError(subject, "core images of machine type %d are not supported (x86_64 and aarch64 are)"
                         % leader.mtype)

    def _register_notes(self, tid):
        """The notes after a thread's NT_PRSTATUS: its floating-point (and x86 extended) state."""
        core = self.cores[tid]
        subject = criu_names.core(tid)
        if self.arch == "x86_64":
            fpregs = core.thread_info.fpregs
            fxsave = x86_fpregset(subject, fpregs)
            notes = [note("CORE", NT_FPREGSET, fxsave)]
            if fpregs.HasField("xsave"):
                notes.append(note("LINUX", NT_X86_XSTATE, x86_xstate(subject, fpregs, fxsave)[0]))
            return notes
        ti = core.ti_aarch64
        return [note("CORE", NT_FPREGSET, aarch64_fpregset(subject, ti.fpsimd)),
                note("LINUX", NT_ARM_TLS, struct.pack("<Q", ti.tls))]

    def _layout(self, names):
        vmas = sorted(self.mm.vmas, key=lambda vma: vma.start)
        subject = criu_names.mm(self.pid)
        previous_end = 0
        for index, vma in enumerate(vmas):
            if vma.start % PAGE_SIZE or vma.end % PAGE_SIZE or vma.end <= vma.start or vma.start < previous_end:
                raise ImageError(subject, "VMA %d (0x%x-0x%x) is impossible or overlaps another" % (index, vma.start, vma.end))
            previous_end = vma.end
        self.file_vmas = []
        phnum = 1 + len(vmas)
        header_end = EHDR.size + phnum * PHDR.size + (SHDR.size if phnum >= PN_XNUM else 0)
        offset = _round_up(header_end, PAGE_SIZE)
        self.loads = []
        for vma in vmas:
            mapped = None
            if vma.status & (criu_names.VMA_FILE_PRIVATE | criu_names.VMA_FILE_SHARED) and vma.shmid in names:
                mapped = names[vma.shmid]
                self.file_vmas.append((vma, mapped[0] + (" (deleted)" if mapped[2] else "")))  # as the kernel says
            filesz = 0 if self._not_dumpable(vma) else vma.end - vma.start
            self.loads.append(Load(vma, offset, filesz, mapped))
            offset += filesz
        self._auxv_note = self._auxv()
        self._file_note = self._nt_file() if self.file_vmas else b""
        self.notes_offset = offset
        self.notes_size = sum(len(part) for part in self._notes(b""))
        self.size = self.notes_offset + self.notes_size
        absent = sum(run.size for run in self.pagemap.runs if not run.present)
        if absent:
            self.warnings.append("pid %d: %d bytes of memory are in a parent checkpoint or were left for lazy "
                                 "restore, not in this archive; the core has zeros there" % (self.pid, absent))

    def _not_dumpable(self, vma):
        """Areas with no bytes in the core: the kernel's vsyscall and vvar pages (never in the images,
        not the process's memory), and PROT_NONE areas without a dumped page (reservations and
        guards: the process could not read them either, and they can be gigabytes)."""
        if vma.status & (criu_names.VMA_AREA_VSYSCALL | criu_names.VMA_AREA_VVAR):
            return True
        if vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
            return False
        return all(offset is None for offset, _length in self.pagemap.locate(vma.start, vma.end - vma.start))

    # -- notes --------------------------------------------------------------------------------

    def _prstatus(self, tid):
        core = self.cores[tid]
        thread_core = core.thread_core
        sigpend = _pending_mask(thread_core.signals_p) if thread_core.HasField("signals_p") else 0
        if thread_core.HasField("blk_sigset"):
            sighold = thread_core.blk_sigset
        else:
            sighold = core.tc.blk_sigset if core.HasField("tc") else 0
        # No signal made this core: siginfo and pr_cursig stay 0, so gdb reports no termination signal.
        head = PRSTATUS_HEAD.pack(0, 0, 0, 0, sigpend, sighold, tid, self.proc.ppid, self.proc.pgid, self.proc.sid)
        subject = criu_names.core(tid)
        if self.arch == "x86_64":
            regs = x86_gpregs(core.thread_info.gpregs)
        else:
            regs = aarch64_gpregs(subject, core.ti_aarch64.gpregs)
        return note("CORE", NT_PRSTATUS, head + regs + struct.pack("<i4x", 1))

    def _prpsinfo(self, args):
        leader = self.cores[self.pid]
        tc = leader.tc
        state = tc.task_state if leader.HasField("tc") else criu_names.TASK_ALIVE
        if state == criu_names.TASK_STOPPED:
            number, sname = 3, b"T"
        elif state == criu_names.TASK_DEAD:
            number, sname = 4, b"Z"
        elif self.arch == "x86_64" and leader.thread_info.gpregs.orig_ax != (1 << 64) - 1:
            number, sname = 1, b"S"  # stopped inside a system call: sleeping in it
        else:
            number, sname = 0, b"R"
        creds = leader.thread_core.creds
        psargs = args.rstrip(b"\0")[:PRARGSZ - 1].replace(b"\0", b" ")
        return note("CORE", NT_PRPSINFO, PRPSINFO.pack(
            number, sname, 1 if state == criu_names.TASK_DEAD else 0, leader.thread_core.sched_nice, tc.flags,
            creds.uid, creds.gid, self.pid, self.proc.ppid, self.proc.pgid, self.proc.sid,
            self.comm.encode("utf-8", "replace")[:15], psargs))

    def _auxv(self):
        words = list(self.mm.mm_saved_auxv)
        if len(words) % 2:
            self.warnings.append("pid %d: the saved auxiliary vector has an odd number of words; the last is "
                                 "dropped" % self.pid)
            words.pop()
        pairs = []
        for index in range(0, len(words), 2):
            if words[index] == AT_NULL:
                break
            pairs.extend(words[index:index + 2])
        pairs.extend((AT_NULL, 0))  # CRIU keeps the vector without its terminator
        return note("CORE", NT_AUXV, struct.pack("<%dQ" % len(pairs), *pairs))

    def _nt_file(self):
        entries = [struct.pack("<QQQ", vma.start, vma.end, vma.pgoff // PAGE_SIZE) for vma, _name in self.file_vmas]
        names = [name.encode("utf-8", "surrogateescape") + b"\0" for _vma, name in self.file_vmas]
        return note("CORE", NT_FILE, struct.pack("<QQ", len(entries), PAGE_SIZE) + b"".join(entries) + b"".join(names))

    def _notes(self, args):
        """The notes in the kernel's order: the first thread's status, the process-wide notes, its
        registers, then each other thread's status and registers."""
        parts = [self._prstatus(self.pid), self._prpsinfo(args), note("CORE", NT_SIGINFO, bytes(SIGINFO_SIZE)),
                 self._auxv_note, self._file_note]
        parts.extend(self._thread_notes[self.pid])
        for tid in self.threads[1:]:
            parts.append(self._prstatus(tid))
            parts.extend(self._thread_notes[tid])
        return parts

    def headers(self):
        phnum = 1 + len(self.loads)
        machine = EM_X86_64 if self.arch == "x86_64" else EM_AARCH64
        ident = b"\x7fELF" + bytes((2, 1, 1, 0)) + bytes(8)  # 64-bit, little-endian, version 1, System V
        extended = phnum >= PN_XNUM
        shoff = EHDR.size + phnum * PHDR.size if extended else 0
        out = [EHDR.pack(ident, ET_CORE, machine, 1, 0, EHDR.size, shoff, 0, EHDR.size, PHDR.size,
                         PN_XNUM if extended else phnum, SHDR.size if extended else 0, 1 if extended else 0, 0),
               PHDR.pack(PT_NOTE, 0, self.notes_offset, 0, 0, self.notes_size, 0, 4)]
        for load in self.loads:
            out.append(PHDR.pack(PT_LOAD, load.flags, load.offset, load.vma.start, 0, load.filesz, load.memsz, PAGE_SIZE))
        if extended:  # the real segment count lives in section header 0's sh_info
            out.append(SHDR.pack(0, 0, 0, 0, 0, 0, 0, phnum, 0, 0))
        return b"".join(out)

    def notes(self):
        data = b"".join(self._notes(self.args))
        if len(data) != self.notes_size:
            raise ImageError(criu_names.core(self.pid), "note size changed while writing")
        return data

    @property
    def args_range(self):
        start, end = self.mm.mm_arg_start, self.mm.mm_arg_end
        return start, (min(end, start + PRARGSZ) if end > start else start)

    # -- writing ------------------------------------------------------------------------------

    def write(self, out, source):
        """Write the whole core to ``out`` (an Output), taking present pages from ``source``."""
        out.write(self.headers())
        files = {}
        zero_file_bytes = {}
        try:
            for load in self.loads:
                if not load.filesz:
                    continue
                out.skip_to(load.offset)
                for address, kind, offset, length in self._pieces(load):
                    if kind == PIECE_PAGES:
                        source.copy(out, offset, length, address)
                    elif kind == PIECE_ELSEWHERE or load.file is None:
                        out.zeros(length)
                    else:
                        self._fill_from_file(out, load, address, length, files, zero_file_bytes)
        finally:
            for fd in files.values():
                if fd is not None:
                    os.close(fd)
        out.skip_to(self.notes_offset)
        self.args = source.args(self)
        out.write(self.notes())
        if zero_file_bytes:
            self.warnings.append(
                "pid %d: %d bytes of %d mapped files (%s) are not in the checkpoint, which leaves out pages "
                "equal to the file, and are zeros in the core%s"
                % (self.pid, sum(zero_file_bytes.values()), len(zero_file_bytes), ", ".join(sorted(zero_file_bytes)),
                   "" if self.root else "; pass root, a directory with the container's files, to read them"))

    def _pieces(self, load):
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

    def _fill_from_file(self, out, load, address, length, files, zero_file_bytes):
        """File-backed memory CRIU left out because it equals the file: read it from the root when
        we have one, zeros otherwise (counted for the warning)."""
        path, recorded_size, deleted = load.file
        fd = self._open(path, recorded_size, deleted, files)
        if fd is None:
            zero_file_bytes[path] = zero_file_bytes.get(path, 0) + length
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

    def _open(self, path, recorded_size, deleted, files):
        if path not in files:
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
            files[path] = fd
        return files[path]


PIECE_PAGES, PIECE_ELSEWHERE, PIECE_NOT_DUMPED = "pages", "elsewhere", "not dumped"


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
                if isinstance(item, tuple):
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

    def update(self, data):
        """Hash immutable bytes (or a view of them)."""
        self._queue.put(data)

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
        if self._hasher is not None:
            zeros = memoryview(ZEROS)
            while length:
                step = min(length, len(ZEROS))
                self._hasher.update(zeros[:step])
                length -= step

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
        """Set the final size (a trailing hole needs it) and return the SHA-256, if computed."""
        os.ftruncate(self.fd, self.position)
        return self._hasher.hexdigest() if self._hasher is not None else None

    def abandon(self):
        if self._hasher is not None:
            self._hasher.stop()


class PlainPages(object):
    """Pages of a plain tar: copied straight from the archive file at the member's offset."""

    def __init__(self, fd, member):
        self._fd = fd
        self._member = member

    def copy(self, out, offset, length, address):
        if offset + length > self._member.size:
            raise ImageError(self._member.name, "too short for its pagemap")
        out.copy_from(self._fd, self._member.offset + offset, length, self._member.name)

    def args(self, core):
        start, end = core.args_range
        if end <= start:
            return b""
        memory = ProcessMemory(core.pagemap, lambda offset, length: os.pread(
            self._fd, length, self._member.offset + offset))
        return memory.read(start, end - start, fill=b"\0")


class StreamPages(object):
    """Pages streaming out of a compressed archive: read once, in order, never sought back.

    Core offsets and pages offsets grow together (both follow addresses), so one forward pass
    serves the whole core; the argument bytes are kept as they go by.
    """

    def __init__(self, fileobj, member, args_range):
        self._fileobj = fileobj
        self._member = member
        self._position = 0
        self._args_start, args_end = args_range
        self._args = bytearray(max(0, args_end - self._args_start))

    def copy(self, out, offset, length, address):
        if offset < self._position:
            raise ImageError(self._member.name, "pagemap runs out of order at offset %d" % offset)
        while self._position < offset:
            skipped = len(self._fileobj.read(min(COPY_CHUNK, offset - self._position)))
            if not skipped:
                raise ImageError(self._member.name, "too short for its pagemap")
            self._position += skipped
        while length:
            data = self._fileobj.read(min(length, COPY_CHUNK))
            if not data:
                raise ImageError(self._member.name, "too short for its pagemap")
            self._keep_args(address, data)
            out.write(data)
            self._position += len(data)
            address += len(data)
            length -= len(data)

    def _keep_args(self, address, data):
        start = max(address, self._args_start)
        end = min(address + len(data), self._args_start + len(self._args))
        if start < end:
            self._args[start - self._args_start:end - self._args_start] = data[start - address:end - address]

    def args(self, core):
        return bytes(self._args)


# -- cores on disk ---------------------------------------------------------------------------------


def core_name(pid):
    return "core.%d" % pid


class _CoreFile(object):
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


def _existing(destination, name, checksum):
    """(size, sha256) of a core already at the target, or None if there is none; anything but a
    regular file there is refused unless overwrite (which replaces it, never following a link)."""
    if os.path.islink(destination.full(name)):
        raise CheckpointError(destination.full(name), "exists and is not a regular file (overwrite replaces it)")
    info = destination.existing(name)
    if info is None:
        return None
    return info.st_size, destination.digest(name) if checksum else None


def _plan(archive, path, pids, root, warnings):
    tree = processes(archive)
    pids = list(dict.fromkeys(pids or ()))  # each asked-for process once, in the order asked
    by_pid = dict((proc.pid, proc) for proc in tree)
    unknown = [pid for pid in pids if pid not in by_pid]
    if unknown:
        raise CheckpointError(path, "no process %s in the checkpoint (it has %s)"
                              % (", ".join(str(pid) for pid in unknown), ", ".join(str(pid) for pid in sorted(by_pid))))
    names = _file_names(archive)
    plans = []
    for pid in pids or [proc.pid for proc in tree]:
        try:
            plans.append(ProcessCore(archive, by_pid[pid], names, root))
        except ZombieError as exc:
            if pids:
                raise
            warnings.append(exc.problem)  # every process was asked for: a zombie is skipped, not fatal
    return plans


def write_cores(path, dest, pids=None, root=None, overwrite=False, checksum=True, check_mode=False):
    """Write ``dest/core.<pid>`` for the given processes (all by default) of checkpoint ``path``.

    Returns (cores, warnings). Each core is a dict: pid, comm, arch, path, size, threads, sha256,
    changed. In check mode nothing is written and ``size`` is the size the core would have.
    """
    warnings = []
    rootdir = RootDir(root) if root else None
    try:
        with CheckpointArchive(path) as archive:
            plans = _plan(archive, path, pids, rootdir, warnings)
            with Destination(dest, check_mode, create=True, protect=[path, root]) as destination:
                cores, todo = _decide(plans, destination, dest, overwrite, checksum)
                if todo and not check_mode:
                    if archive.compression == "none":
                        _write_plain(archive, todo, destination, dest, checksum, cores)
                    else:
                        _write_streamed(archive, todo, destination, dest, checksum, cores)
    finally:
        if rootdir is not None:
            rootdir.close()
    for plan in plans:
        warnings.extend(plan.warnings)
    return cores, warnings


def _decide(plans, destination, dest, overwrite, checksum):
    cores, todo = {}, []
    for plan in plans:
        name = core_name(plan.pid)
        existing = None if destination.fd is None or overwrite else _existing(destination, name, checksum)
        result = dict(pid=plan.pid, comm=plan.comm, arch=plan.arch, path=os.path.join(dest, name), size=plan.size,
                      threads=list(plan.threads), sha256=None, changed=True)
        if existing is not None and not overwrite:
            result.update(size=existing[0], sha256=existing[1], changed=False)
        else:
            todo.append(plan)
        cores[plan.pid] = result
    return [cores[plan.pid] for plan in plans], todo


def _record(cores, plan, size, sha256):
    for core in cores:
        if core["pid"] == plan.pid:
            core.update(size=size, sha256=sha256)


def _write_one(plan, source, destination, dest, checksum, cores):
    target = _CoreFile(destination, dest, core_name(plan.pid), checksum)
    try:
        plan.write(target.output, source)
        size, sha256 = target.commit()
    except OSError as exc:
        target.discard()
        # not an OSError any more: inside an archive pass it would pass for a corrupt archive
        raise CheckpointError(target.path, (exc.strerror or str(exc)).lower())
    except BaseException:
        target.discard()
        raise
    if size != plan.size:
        raise CheckpointError(target.path, "wrote %d bytes, planned %d" % (size, plan.size))
    _record(cores, plan, size, sha256)


def _write_plain(archive, plans, destination, dest, checksum, cores):
    """Page data is copied from the archive's own descriptor, so it is the file that was indexed."""
    for plan in plans:
        _write_one(plan, PlainPages(archive.fileno(), plan.pages), destination, dest, checksum, cores)


def _write_streamed(archive, plans, destination, dest, checksum, cores):
    """One more decompressing pass; each core is written while its pages image streams by."""
    by_member = dict((plan.pages.name, plan) for plan in plans)
    written = set()

    def visit(member, fileobj):
        plan = by_member.get(member.name)
        if plan is not None and plan.pid not in written:
            _write_one(plan, StreamPages(fileobj, member, plan.args_range), destination, dest, checksum, cores)
            written.add(plan.pid)

    CheckpointArchive(archive.path, keep=lambda name, size: False, visit=visit).close()
    missing = [plan.pid for plan in plans if plan.pid not in written]
    if missing:
        raise CheckpointError(archive.path, "the pages of pid %s did not come by on the second pass"
                              % ", ".join(str(pid) for pid in missing))
