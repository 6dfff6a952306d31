# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ELF core files of a checkpoint's processes, written streaming from its one opened Checkpoint.

What a core holds is decided per process before a byte is written (ProcessCore: registers.py for
the thread notes, layout.py for the PT_LOADs and file mappings); writer.py emits the file through
``output.Destination``. Where CRIU's own converter goes wrong we do otherwise: NT_AUXV holds
(type, value) pairs ending in AT_NULL, and every byte a PT_LOAD claims is in the file.

Pages come from the Checkpoint: by offset from a plain tar, or while the pages image streams by in
a compressed one. Notes go last, so a core is written front to back in that one forward read, the
process's arguments (for NT_PRPSINFO) picked up on the way. A compressed archive is read twice:
the core's headers need pstree.img (process ids, threads), which both real layouts put after the
pages image (Podman writes images in name order; CRI-O puts pages first), and holding
decompressed pages until then would not keep memory bounded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import struct

from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump import registers
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.layout import (
    PIECE_ELSEWHERE,
    PIECE_PAGES,
    Layout,
    MappedFiles,
    RootDir,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.writer import (
    COPY_CHUNK,
    CoreFile,
    core_name,
    elf_headers,
    note,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names as criu_names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import Checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap, ProcessMemory
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape

NT_PRPSINFO = 3
NT_AUXV = 6
NT_SIGINFO = 0x53494749
# elf_prpsinfo (identical on x86-64 and aarch64: uid/gid are 32-bit).
PRPSINFO = struct.Struct("<bcbb4xQIIiiii16s80s")
SIGINFO_SIZE = 128
AT_NULL = 0
PRARGSZ = 80


class ZombieError(ImageError):
    """The process is a zombie: CRIU dumped no memory for it."""


class ProcessCore(object):
    """Everything needed to write one process's core, decided before a byte is written."""

    def __init__(self, tree, task, files, root=None):
        """``task``: the process in the checkpoint's ProcessTree ``tree``."""
        self.pid = task.pid
        self.proc = task
        self.warnings = []
        self.root = root
        self.threads = [task.pid] + [tid for tid in task.threads if tid != task.pid]
        self.cores = dict((tid, tree.core(tid)) for tid in self.threads)
        leader = self.cores[task.pid]
        if task.zombie:
            raise ZombieError(criu_names.core(task.pid), "pid %d is a zombie: it has no memory to dump" % task.pid)
        self.arch = registers.arch_of(leader, self.pid)
        self._check_ranges(leader)
        self.comm = task.comm
        self.mm = tree.image(criu_names.mm(task.pid), "MM").first()
        self.pagemap = PageMap.of(tree.archive, task.pid)
        self.pages = tree.archive.regular(self.pagemap.pages)
        self.args = b""
        self._thread_notes = dict((tid, registers.register_notes(self.arch, self.cores[tid], tid))
                                  for tid in self.threads)
        self.layout = Layout(self.pid, self.mm, self.pagemap, files)
        self.loads = self.layout.loads
        self._auxv_note = self._auxv()
        self.notes_offset = self.layout.data_end
        self.notes_size = sum(len(part) for part in self._notes(b""))
        self.size = self.notes_offset + self.notes_size
        absent = sum(run.size for run in self.pagemap.runs if not run.present)
        # What writing it puts on disk, less the holes: its pages and notes (and, with root, file
        # pages read from there); the bound write_cores' max_bytes counts.
        self.data_size = sum(run.size for run in self.pagemap.runs if run.present) + self.notes_size
        if absent:
            self.warnings.append("pid %d: %d bytes of memory are in a parent checkpoint or were left for lazy "
                                 "restore, not in this archive; the core has zeros there" % (self.pid, absent))

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

    # -- notes --------------------------------------------------------------------------------

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
            self.comm.encode("utf-8", "surrogateescape")[:15], psargs))

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

    def _notes(self, args):
        """The notes in the kernel's order: the first thread's status, the process-wide notes, its
        registers, then each other thread's status and registers."""
        parts = [self._prstatus(self.pid), self._prpsinfo(args), note("CORE", NT_SIGINFO, bytes(SIGINFO_SIZE)),
                 self._auxv_note, self.layout.file_note]
        parts.extend(self._thread_notes[self.pid])
        for tid in self.threads[1:]:
            parts.append(self._prstatus(tid))
            parts.extend(self._thread_notes[tid])
        return parts

    def _prstatus(self, tid):
        return registers.prstatus(self.arch, self.cores[tid], tid, self.proc.ppid, self.proc.pgid, self.proc.sid)

    def headers(self):
        return elf_headers(self.arch, self.loads, self.notes_offset, self.notes_size)

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
        mapped = MappedFiles(self.pid, self.root, self.warnings)
        try:
            for load in self.loads:
                if not load.filesz:
                    continue
                out.skip_to(load.offset)
                for address, kind, offset, length in self.layout.pieces(load):
                    if kind == PIECE_PAGES:
                        source.copy(out, offset, length, address)
                    elif kind == PIECE_ELSEWHERE or load.file is None:
                        out.zeros(length)
                    else:
                        mapped.fill(out, load, address, length)
        finally:
            mapped.close()
        out.skip_to(self.notes_offset)
        self.args = source.args(self)
        out.write(self.notes())
        if mapped.zero_bytes:
            self.warnings.append(
                "pid %d: %d bytes of %d mapped files (%s) are not in the checkpoint, which leaves out pages "
                "equal to the file, and are zeros in the core%s"
                % (self.pid, sum(mapped.zero_bytes.values()), len(mapped.zero_bytes),
                   ", ".join(sorted(mapped.zero_bytes)),
                   "" if self.root else "; pass root, a directory with the container's files, to read them"))


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


def _existing(destination, name, checksum):
    """(size, sha256) of a core already at the target, or None if there is none; anything but a
    regular file there is refused unless overwrite (which replaces it, never following a link)."""
    if os.path.islink(destination.full(name)):
        raise CheckpointError(destination.full(name), "exists and is not a regular file (overwrite replaces it)")
    info = destination.existing(name)
    if info is None:
        return None
    return info.st_size, destination.digest(name) if checksum else None


# Cores planned in one task, and threads in all of them: each plan holds its notes, layout and
# core entries until written (3,000 processes of a 37 MB archive: 266 MB, and 33 GB of cores).
MAX_CORES = 1000
MAX_THREADS = 8192
# Bytes written by one task, holes not counted (max_bytes): cores copy the memory CRIU dumped, so a
# pages image that many processes claim is written once each.
DEFAULT_MAX_BYTES = 16 << 30


def _plan(tree, pids, root, warnings, max_bytes=DEFAULT_MAX_BYTES):
    pids = list(dict.fromkeys(pids or ()))  # each asked-for process once, in the order asked
    if len(pids) > MAX_CORES:
        raise CheckpointError("pid", "%d processes asked for; one task writes at most %d cores" % (len(pids), MAX_CORES))
    unknown = [pid for pid in pids if tree.task(pid) is None]
    if unknown:
        raise CheckpointError(tree.archive.path, "no process %s in the checkpoint (it has %s)"
                              % (", ".join(str(pid) for pid in unknown[:20]), tree.known_pids()))
    files = tree.regular_files()
    plans, threads, data, left = [], 0, 0, []
    for pid in pids or tree.pids():
        task = tree.task(pid)
        threads += max(1, len(task.threads))
        if threads > MAX_THREADS or len(plans) == MAX_CORES or left:  # the first ones of the tree, no gaps
            if pids:
                raise CheckpointError("pid", "the processes asked for have more than the %d threads one task "
                                      "writes cores for; ask for fewer" % MAX_THREADS)
            left.append(pid)
            continue
        try:
            plan = ProcessCore(tree, task, files, root)
        except ZombieError as exc:
            if pids:
                raise
            warnings.append(exc.problem)  # every process was asked for: a zombie is skipped, not fatal
            continue
        data += plan.data_size
        if max_bytes and data > max_bytes:
            if pids:
                raise CheckpointError("max_bytes", "the cores asked for hold more than %d bytes of data; raise "
                                      "max_bytes or ask for fewer processes" % max_bytes)
            left.append(pid)
            data -= plan.data_size
            continue
        plans.append(plan)
    if left:
        warnings.append("%d processes have no core (pid %s%s): one task writes at most %d cores, %d threads and %s "
                        "bytes of data (max_bytes); ask for them by pid" % (
                            len(left), ", ".join(str(pid) for pid in left[:20]), ", ..." if len(left) > 20 else "",
                            MAX_CORES, MAX_THREADS, max_bytes or "any number of"))
    return plans


def write_cores(source, dest, pids=None, root=None, overwrite=False, checksum=True, check_mode=False,
                max_bytes=DEFAULT_MAX_BYTES):
    """Write ``dest/core.<pid>`` for the given processes (all by default, up to MAX_CORES,
    MAX_THREADS and ``max_bytes`` of data) of ``source``, a Checkpoint (or the path of a checkpoint
    archive, opened for this call).

    Returns (cores, warnings). Each core is a dict: pid, comm, arch, path, size, threads, sha256,
    changed. In check mode nothing is written and ``size`` is the size the core would have.
    """
    if not isinstance(source, Checkpoint):
        with Checkpoint(source) as checkpoint:
            return write_cores(checkpoint, dest, pids, root, overwrite, checksum, check_mode, max_bytes)
    warnings = []
    archive = source.archive
    rootdir = RootDir(root) if root else None
    try:
        plans = _plan(source.tree, pids, rootdir, warnings, max_bytes)
        with Destination(dest, check_mode, create=True, protect=[archive.path, root]) as destination:
            cores, todo = _decide(plans, destination, dest, overwrite, checksum)
            if todo and not check_mode:
                if archive.compression == "none":
                    _write_plain(archive, todo, destination, dest, checksum, cores)
                else:
                    _write_streamed(source, todo, destination, dest, checksum, cores)
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
        result = dict(pid=plan.pid, comm=escape(plan.comm), arch=plan.arch, path=os.path.join(dest, name), size=plan.size,
                      threads=list(plan.threads), sha256=None, changed=True)
        if existing is not None and not overwrite:
            result.update(size=existing[0], sha256=existing[1], changed=False)
        else:
            todo.append(plan)
        cores[plan.pid] = result
    return [cores[plan.pid] for plan in plans], todo


def _record(cores, plan, size, sha256):
    for core in cores:  # at most MAX_CORES of them
        if core["pid"] == plan.pid:
            core.update(size=size, sha256=sha256)
            return


def _write_one(plan, source, destination, dest, checksum, cores):
    target = CoreFile(destination, dest, core_name(plan.pid), checksum)
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


def _write_streamed(checkpoint, plans, destination, dest, checksum, cores):
    """The Checkpoint's one more pass (see the module docstring); each core is written while its
    pages image streams by."""
    by_member = dict((plan.pages.name, plan) for plan in plans)
    written = set()

    def visit(member, fileobj):
        plan = by_member.get(member.name)
        if plan is not None and plan.pid not in written:
            _write_one(plan, StreamPages(fileobj, member, plan.args_range), destination, dest, checksum, cores)
            written.add(plan.pid)

    checkpoint.another_pass(visit)
    missing = [plan.pid for plan in plans if plan.pid not in written]
    if missing:
        raise CheckpointError(checkpoint.path, "the pages of pid %s did not come by on the second pass"
                              % ", ".join(str(pid) for pid in missing))
