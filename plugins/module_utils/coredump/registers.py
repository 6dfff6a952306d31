# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CRIU core images as the register notes of an ELF core, per architecture.

Layouts from the Linux ELF core ABI (``user_regs_struct``, ``user_fpregs_struct``, the XSAVE
standard format, ``user_pt_regs``, ``user_fpsimd_state``), checked against what bfd/gdb parse; the
XSTATE note has the size gdb derives from the XCR0 it finds at byte 464.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.writer import note
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names as criu_names
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ImageError

NT_PRSTATUS = 1
NT_FPREGSET = 2
NT_X86_XSTATE = 0x202
NT_ARM_TLS = 0x401
MTYPE_X86_64, MTYPE_AARCH64 = 1, 3
X86_REGS_COMPAT = 2
# elf_prstatus: siginfo (3 ints), pr_cursig, pr_sigpend, pr_sighold, pid/ppid/pgrp/sid, 4 timevals;
# then the architecture's register set and pr_fpvalid.
PRSTATUS_HEAD = struct.Struct("<iiih2xQQiiii64x")
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


def arch_of(leader, pid):
    """"x86_64" or "aarch64" for the leader's core image; anything else is one line."""
    subject = criu_names.core(pid)
    if leader.mtype == MTYPE_X86_64 and leader.HasField("thread_info"):
        if leader.thread_info.gpregs.mode == X86_REGS_COMPAT:
            raise ImageError(subject, "pid %d is a 32-bit (compat) task; only 64-bit cores are written" % pid)
        return "x86_64"
    if leader.mtype == MTYPE_AARCH64 and leader.HasField("ti_aarch64"):
        return "aarch64"
    raise ImageError(subject, "core images of machine type %d are not supported (x86_64 and aarch64 are)"
                     % leader.mtype)


def _pending_mask(queue_entry):
    mask = 0
    for info in queue_entry.signals:
        if len(info.siginfo) >= 4:
            signo, = struct.unpack_from("<i", info.siginfo, 0)
            if 0 < signo <= 64:
                mask |= 1 << (signo - 1)
    return mask


def prstatus(arch, core, tid, ppid, pgid, sid):
    """NT_PRSTATUS of thread ``tid``: its pending and blocked signals, ids and registers."""
    thread_core = core.thread_core
    sigpend = _pending_mask(thread_core.signals_p) if thread_core.HasField("signals_p") else 0
    if thread_core.HasField("blk_sigset"):
        sighold = thread_core.blk_sigset
    else:
        sighold = core.tc.blk_sigset if core.HasField("tc") else 0
    # No signal made this core: siginfo and pr_cursig stay 0, so gdb reports no termination signal.
    head = PRSTATUS_HEAD.pack(0, 0, 0, 0, sigpend, sighold, tid, ppid, pgid, sid)
    if arch == "x86_64":
        regs = x86_gpregs(core.thread_info.gpregs)
    else:
        regs = aarch64_gpregs(criu_names.core(tid), core.ti_aarch64.gpregs)
    return note("CORE", NT_PRSTATUS, head + regs + struct.pack("<i4x", 1))


def register_notes(arch, core, tid):
    """The notes after a thread's NT_PRSTATUS: its floating-point (and x86 extended) state."""
    subject = criu_names.core(tid)
    if arch == "x86_64":
        fpregs = core.thread_info.fpregs
        fxsave = x86_fpregset(subject, fpregs)
        notes = [note("CORE", NT_FPREGSET, fxsave)]
        if fpregs.HasField("xsave"):
            notes.append(note("LINUX", NT_X86_XSTATE, x86_xstate(subject, fpregs, fxsave)[0]))
        return notes
    ti = core.ti_aarch64
    return [note("CORE", NT_FPREGSET, aarch64_fpregset(subject, ti.fpsimd)),
            note("LINUX", NT_ARM_TLS, struct.pack("<Q", ti.tls))]
