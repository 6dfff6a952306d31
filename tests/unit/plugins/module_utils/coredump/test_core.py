# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""coredump.py: cores of the fixture processes, judged by the distribution's gdb and readelf.

No fixture process has more than one thread, so the multi-threaded case uses an archive derived
from the counters checkpoint: its images unchanged except pstree.img, which lists two more
threads, and their core-<tid>.img, copies of the leader's with other registers (see
``threaded_archive``). The aarch64 case is derived the same way; the installed gdb is x86-only,
so that core is checked with pyelftools and readelf, not gdb.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile

import pytest
from elftools.elf.elffile import ELFFile

import module_outputs

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names as criu_names
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump import core as coredump
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump import layout, registers, writer
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap

GDB = shutil.which("gdb")
READELF = shutil.which("readelf")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed (bindep.txt [test])")
needs_readelf = pytest.mark.skipif(READELF is None, reason="readelf is not installed (binutils, bindep.txt [test])")

# The one gdb warning a sound core still gets: a file the process mapped is missing on this host.
MISSING_FILE = re.compile(r"^warning: Can't open file (.+) during file-backed mapping note processing$")


# -- helpers -------------------------------------------------------------------------------------


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def gdb(core, *commands):
    argv = [GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off", "-c", core]
    for command in commands:
        argv += ["-ex", command]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=300, env=dict(os.environ, LC_ALL="C"), check=False)
    return proc.stdout, proc.stderr


def load_warnings(stderr, stdout=""):
    """gdb's complaints about a core (all of stderr, warnings on stdout), minus mapped files this
    host does not have."""
    problems = []
    for line in stderr.splitlines() + [line for line in stdout.splitlines() if "warning" in line.lower()]:
        missing = MISSING_FILE.match(line.strip())
        if missing and not os.path.exists(missing.group(1)):
            continue
        if line.strip():
            problems.append(line)
    return problems


def register(stdout, name):
    match = re.search(r"^%s\s+(0x[0-9a-f]+)" % name, stdout, re.M)
    assert match, "gdb printed no %s in:\n%s" % (name, stdout)
    return int(match.group(1), 16)


def core_image(path, tid):
    with CheckpointArchive(path) as archive:
        return criu_images.load(archive, "checkpoint/core-%d.img" % tid, expect="CORE").first()


def find_in_memory(path, pid, needle):
    """Addresses of ``needle`` in the dumped memory of ``pid`` (a plain tar), by pagemap segment."""
    found = []
    with CheckpointArchive(path) as archive:
        pagemap = PageMap.load(archive, pid)
        reader = archive.open_member(pagemap.pages)
        for vaddr, offset, length in pagemap.segments():
            data = reader.read_at(offset, length)
            index = data.find(needle)
            while index >= 0:
                found.append(vaddr + index)
                index = data.find(needle, index + 1)
    return found


def notes(path):
    with open(path, "rb") as handle:
        return [n for segment in ELFFile(handle).iter_segments() if segment.header.p_type == "PT_NOTE"
                for n in segment.iter_notes()]


def loads(path):
    with open(path, "rb") as handle:
        return [dict(segment.header) for segment in ELFFile(handle).iter_segments()
                if segment.header.p_type == "PT_LOAD"]


def image_bytes(magic_header, messages):
    return magic_header + b"".join(struct.pack("<I", msg.ByteSize()) + msg.SerializeToString() for msg in messages)


def derived_archive(source, dest, replace):
    """A plain tar with the members of ``source``, some replaced or added: ``replace[name] = bytes``."""
    with tarfile.open(source) as src, tarfile.open(dest, "w") as out:
        for info in src:
            if info.name in replace:
                continue
            out.addfile(info, src.extractfile(info) if info.isfile() else None)
        for name, data in replace.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            out.addfile(info, io.BytesIO(data))
    return dest


def header_and_entries(path, name):
    with CheckpointArchive(path) as archive:
        raw = archive.read(name)
    return raw[:8], criu_images.decode(name, raw).entries


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cores(archives, tmp_path_factory):
    """Cores of every process of the fixtures, with default options: {key: {pid: core dict}}."""
    out = {}
    for key in ("counters", "counters_zst", "lookup", "worker41"):
        dest = str(tmp_path_factory.mktemp("cores-" + key))
        written, warnings = coredump.write_cores(archives[key], dest)
        out[key] = dict((core["pid"], core) for core in written)
        out[key]["warnings"] = warnings
    return out


THREAD_REGS = {2: (0x7F5EA0001230, 0x7F5E9F7FEDE0), 3: (0x7F5EA0004560, 0x7F5E9EFFDDE0)}


@pytest.fixture(scope="session")
def threaded_archive(archives, tmp_path_factory):
    """counters with threads 2 and 3 added to pid 1 (their rip/rsp in THREAD_REGS)."""
    path = archives["counters"]
    header, entries = header_and_entries(path, "checkpoint/pstree.img")
    entries[0].threads.extend(sorted(THREAD_REGS))
    replace = {"checkpoint/pstree.img": image_bytes(header, entries)}
    core_header, (leader,) = header_and_entries(path, "checkpoint/core-1.img")
    for tid, (rip, rsp) in THREAD_REGS.items():
        thread = type(leader)()
        thread.CopyFrom(leader)
        thread.ClearField("tc")  # CRIU writes the task-wide part for the leader only
        thread.thread_info.gpregs.ip = rip
        thread.thread_info.gpregs.sp = rsp
        thread.thread_info.gpregs.ax = tid
        replace["checkpoint/core-%d.img" % tid] = image_bytes(core_header, [thread])
    return derived_archive(path, str(tmp_path_factory.mktemp("threaded") / "threaded.tar"), replace)


# -- gdb -----------------------------------------------------------------------------------------


@needs_gdb
@pytest.mark.parametrize("key", ["counters", "lookup", "worker41"])
def test_gdb_loads_every_core_without_warnings(cores, key):
    for pid, core in cores[key].items():
        if pid == "warnings":
            continue
        stdout, stderr = gdb(core["path"], "info threads")
        assert load_warnings(stderr, stdout) == [], "core of pid %d: %s" % (pid, stderr)
        assert "Core was generated by `" in stdout
        assert "LWP %d" % pid in stdout


@needs_gdb
@pytest.mark.parametrize("key", ["counters", "lookup", "worker41"])
def test_gdb_registers_are_the_images(archives, cores, key):
    names = dict(rax="ax", rbx="bx", rcx="cx", rdx="dx", rsi="si", rdi="di", rbp="bp", rsp="sp", r8="r8", r9="r9",
                 r10="r10", r11="r11", r12="r12", r13="r13", r14="r14", r15="r15", rip="ip", eflags="flags",
                 cs="cs", ss="ss", fs_base="fs_base", gs_base="gs_base")
    for pid in (p for p in cores[key] if p != "warnings"):
        gpregs = core_image(archives[key], pid).thread_info.gpregs
        stdout, _stderr = gdb(cores[key][pid]["path"], "info registers %s" % " ".join(names))
        for gdb_name, criu_name in names.items():
            assert register(stdout, gdb_name) == getattr(gpregs, criu_name), (pid, gdb_name)
        assert gpregs.ip and gpregs.sp  # the comparison means something


@needs_gdb
def test_gdb_prints_the_secret_where_the_memory_has_it(archives, cores):
    addresses = find_in_memory(archives["counters"], 1, b"RANDOM_1432_KEY")
    assert addresses
    stdout, _stderr = gdb(cores["counters"][1]["path"], *("x/s 0x%x" % address for address in addresses))
    for address in addresses:
        assert re.search(r"^0x%x:\s+\"RANDOM_1432_KEY" % address, stdout, re.M), stdout


@needs_gdb
def test_gdb_reads_memory_of_a_compressed_criu41_checkpoint(archives, cores, tmp_path):
    plain = str(tmp_path / "worker.tar")
    with open(archives["worker41"], "rb") as packed, open(plain, "wb") as out:
        shutil.copyfileobj(gzip.GzipFile(fileobj=packed), out)
    addresses = find_in_memory(plain, 6, b"OLD_CRIU_SECRET_5521")
    assert addresses
    stdout, _stderr = gdb(cores["worker41"][6]["path"], "x/s 0x%x" % addresses[0])
    assert "OLD_CRIU_SECRET_5521" in stdout


@needs_gdb
def test_gdb_lists_every_thread(threaded_archive, tmp_path):
    (core,), _warnings = coredump.write_cores(threaded_archive, str(tmp_path))
    assert core["threads"] == [1, 2, 3]
    stdout, stderr = gdb(core["path"], "info threads", "thread 2", "info registers rip rsp rax", "thread 3",
                         "info registers rip rsp rax")
    assert load_warnings(stderr, stdout) == []
    for lwp in (1, 2, 3):
        assert re.search(r"^\*?\s+\d+\s+LWP %d\b" % lwp, stdout, re.M), stdout
    blocks = stdout.split("[Switching to thread")[1:]
    assert len(blocks) == 2
    for block, tid in zip(blocks, (2, 3)):
        rip, rsp = THREAD_REGS[tid]
        assert (register(block, "rip"), register(block, "rsp"), register(block, "rax")) == (rip, rsp, tid)


@needs_gdb
def test_gdb_sees_the_vector_and_auxv(archives, cores):
    fpregs = core_image(archives["counters"], 1).thread_info.fpregs
    stdout, stderr = gdb(cores["counters"][1]["path"], "p/x $xmm1.v4_int32", "p/x $mxcsr", "info auxv")
    assert load_warnings(stderr) == []
    assert "{%s}" % ", ".join("0x%x" % word for word in fpregs.xmm_space[4:8]) in stdout
    assert "0x%x" % fpregs.mxcsr in stdout
    assert re.search(r"AT_PAGESZ .* 4096", stdout)
    assert re.search(r"AT_EXECFN .* \"/usr/bin/python3\"", stdout)
    assert stdout.rstrip().splitlines()[-1].split()[:2] == ["0", "AT_NULL"]


# -- structure -----------------------------------------------------------------------------------


@needs_readelf
def test_readelf_lists_the_notes(cores):
    proc = subprocess.run([READELF, "-W", "-n", "-l", cores["counters"][1]["path"]], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=True)
    assert proc.stderr == ""
    order = re.findall(r"^\s+(CORE|LINUX)\s+0x[0-9a-f]+\s+(NT_\w+)", proc.stdout, re.M)
    assert order == [("CORE", "NT_PRSTATUS"), ("CORE", "NT_PRPSINFO"), ("CORE", "NT_SIGINFO"), ("CORE", "NT_AUXV"),
                     ("CORE", "NT_FILE"), ("CORE", "NT_FPREGSET"), ("LINUX", "NT_X86_XSTATE")]


def test_notes_have_exact_sizes(archives, cores):
    path = cores["counters"][1]["path"]
    sizes = dict((n["n_type"], n["n_descsz"]) for n in notes(path))
    assert (sizes["NT_PRSTATUS"], sizes["NT_PRPSINFO"], sizes["NT_FPREGSET"], sizes["NT_SIGINFO"]) == (336, 136, 512, 128)
    # XSTATE: x87/SSE/AVX in the images, so XCR0 = 7 at byte 464 and gdb's size for it, 832 bytes
    xstate = raw_note(path, registers.NT_X86_XSTATE)
    assert len(xstate) == 832 and struct.unpack_from("<Q", xstate, 464)[0] == 7
    # NT_FILE: descsz ends right after the last name (gdb's "filename area is too big" check)
    mapped = [n for n in notes(path) if n["n_type"] == "NT_FILE"][0]
    count = mapped["n_desc"]["num_map_entries"]
    filenames = mapped["n_desc"]["filename"]
    with CheckpointArchive(archives["counters"]) as archive:
        mm = criu_images.load(archive, "checkpoint/mm-1.img", expect="MM").first()
    file_vmas = [vma for vma in mm.vmas if vma.status & (criu_names.VMA_FILE_PRIVATE | criu_names.VMA_FILE_SHARED)]
    assert mapped["n_desc"]["page_size"] == 4096 and count == len(filenames) == len(file_vmas) == 67
    assert mapped["n_descsz"] == 16 + 24 * count + sum(len(name) + 1 for name in filenames)
    assert filenames[0] == b"/usr/bin/python3.11"
    first = mapped["n_desc"]["Elf_Nt_File_Entry"][1]
    assert (first["vm_start"], first["vm_end"], first["page_offset"]) == (0x41F000, 0x6D3000, 0x1F)
    # NT_AUXV: CRIU's saved vector as (type, value) pairs, then the AT_NULL it lacks
    saved = list(mm.mm_saved_auxv)
    auxv = raw_note(path, coredump.NT_AUXV)
    assert auxv == struct.pack("<%dQ" % (len(saved) + 2), *(saved + [0, 0]))


def test_one_load_per_vma_with_its_permissions(archives, cores):
    with CheckpointArchive(archives["counters"]) as archive:
        vmas = criu_images.load(archive, "checkpoint/mm-1.img", expect="MM").first().vmas
    segments = loads(cores["counters"][1]["path"])
    size = cores["counters"][1]["size"]
    assert size == os.path.getsize(cores["counters"][1]["path"])
    assert len(segments) == len(vmas)
    for vma, segment in zip(sorted(vmas, key=lambda v: v.start), segments):
        assert (segment["p_vaddr"], segment["p_memsz"]) == (vma.start, vma.end - vma.start)
        flags = (4 if vma.prot & 1 else 0) | (2 if vma.prot & 2 else 0) | (1 if vma.prot & 4 else 0)
        assert segment["p_flags"] == flags
        assert segment["p_offset"] % 4096 == 0 and segment["p_offset"] + segment["p_filesz"] <= size
        if vma.status & (criu_names.VMA_AREA_VSYSCALL | criu_names.VMA_AREA_VVAR):
            assert segment["p_filesz"] == 0
        else:
            assert segment["p_filesz"] == segment["p_memsz"]


def test_present_pages_are_copied_and_absent_ones_are_zero(archives, cores):
    path = archives["counters"]
    with CheckpointArchive(path) as archive, open(cores["counters"][1]["path"], "rb") as core:
        pagemap = PageMap.load(archive, 1)
        reader = archive.open_member(pagemap.pages)
        by_address = [(s["p_vaddr"], s["p_offset"], s["p_filesz"]) for s in loads(cores["counters"][1]["path"])]

        def core_bytes(address, length):
            for vaddr, offset, filesz in by_address:
                if vaddr <= address < vaddr + filesz:
                    core.seek(offset + address - vaddr)
                    return core.read(length)
            raise AssertionError("0x%x is in no segment" % address)

        for vaddr, offset, length in pagemap.segments():
            assert core_bytes(vaddr, length) == reader.read_at(offset, length), hex(vaddr)
        # python3.11's text: file-backed, never dumped, no root given: zeros
        text = [run for run in pagemap.runs if run.vaddr == 0x41F000][0]
        assert core_bytes(text.end, 4096) == bytes(4096)


def test_plain_and_zstd_archives_give_the_same_core(cores):
    assert cores["counters"][1]["sha256"] == cores["counters_zst"][1]["sha256"]
    assert cores["counters"][1]["sha256"] == sha256(cores["counters"][1]["path"])


def test_prpsinfo_has_the_process(cores):
    with open(cores["lookup"][20]["path"], "rb") as handle:
        elf = ELFFile(handle)
        info = [n for s in elf.iter_segments() if s.header.p_type == "PT_NOTE" for n in s.iter_notes()
                if n["n_type"] == "NT_PRPSINFO"][0]["n_desc"]
    assert info["pr_fname"].rstrip(b"\0") == b"busybox"
    assert info["pr_psargs"].rstrip(b"\0") == b"busybox sleep 3600"
    assert (info["pr_pid"], info["pr_ppid"], info["pr_pgrp"], info["pr_sid"]) == (20, 16, 15, 15)
    assert info["pr_sname"] == b"S"  # alive, stopped inside a system call


def test_warns_about_file_pages_it_could_not_fill(cores):
    warnings = cores["counters"]["warnings"]
    assert len(warnings) == 1 and "/usr/lib/x86_64-linux-gnu/libc.so.6" in warnings[0] and "pass root" in warnings[0]


# -- root ----------------------------------------------------------------------------------------


def test_file_pages_come_from_root_resolved_inside_it(archives, tmp_path):
    root = tmp_path / "root"
    (root / "real" / "x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr").mkdir()
    os.symlink("/real", str(root / "usr" / "lib"))  # absolute: must resolve inside root, not on this host
    libc_size = 1926232  # what files.img records for /usr/lib/x86_64-linux-gnu/libc.so.6
    pattern = bytes(range(251)) * (libc_size // 251 + 1)
    (root / "real" / "x86_64-linux-gnu" / "libc.so.6").write_bytes(pattern[:libc_size])
    # a planted escape: python3.11 is a symlink climbing out of the root towards this host's file
    (root / "usr" / "bin").mkdir()
    os.symlink("../../../../../../../../usr/bin/python3.11", str(root / "usr" / "bin" / "python3.11"))
    (core,), warnings = coredump.write_cores(archives["counters"], str(tmp_path / "out"), root=str(root))
    with CheckpointArchive(archives["counters"]) as archive:
        vmas = criu_images.load(archive, "checkpoint/mm-1.img", expect="MM").first().vmas
    libc_text = [v for v in vmas if v.start == 0x7F5EA85E7000][0]  # r-x, file offset 0x26000
    segment = [s for s in loads(core["path"]) if s["p_vaddr"] == libc_text.start][0]
    with open(core["path"], "rb") as handle:
        handle.seek(segment["p_offset"])
        assert handle.read(segment["p_filesz"]) == pattern[libc_text.pgoff:libc_text.pgoff + segment["p_filesz"]]
        python_text = [s for s in loads(core["path"]) if s["p_vaddr"] == 0x400000][0]
        handle.seek(python_text["p_offset"])
        assert handle.read(python_text["p_filesz"]) == bytes(python_text["p_filesz"])  # not the host's python
    assert any("/usr/bin/python3.11 is not readable under" in warning for warning in warnings)
    assert not any("libc.so.6" in warning for warning in warnings)


def test_root_resolution_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_bytes(b"inside\n")
    os.symlink("/etc/hostname", str(root / "abs"))
    os.symlink("../../../../etc/hostname", str(root / "etc" / "rel"))
    os.symlink("loop", str(root / "loop"))
    rootdir = layout.RootDir(str(root))
    try:
        for path in ("/abs", "/etc/rel", "/../../etc/hostname", "etc/./hostname"):
            fd, problem = rootdir.open(path)
            assert problem is None, path
            assert os.read(fd, 100) == b"inside\n"
            os.close(fd)
        assert rootdir.open("/loop") == (None, "too many symbolic links")
        assert rootdir.open("/etc") == (None, "not a regular file")
        assert rootdir.open("/") == (None, "is a directory")
        assert rootdir.open("/missing")[1] == "no such file or directory"
    finally:
        rootdir.close()


# -- files on disk -------------------------------------------------------------------------------


def test_cores_are_private_and_written_once(archives, tmp_path):
    dest = tmp_path / "cores"
    (first,), _warnings = coredump.write_cores(archives["counters"], str(dest))
    assert os.stat(first["path"]).st_mode & 0o777 == 0o600
    assert os.listdir(str(dest)) == ["core.1"]
    (again,), _warnings = coredump.write_cores(archives["counters"], str(dest))
    assert again["changed"] is False and again["sha256"] == first["sha256"] and again["size"] == first["size"]


def test_check_mode_writes_nothing_and_knows_the_size(archives, tmp_path):
    dest = tmp_path / "cores"
    planned, _warnings = coredump.write_cores(archives["lookup"], str(dest), check_mode=True)
    assert not dest.exists()
    assert [core["changed"] for core in planned] == [True] * 4 and all(core["sha256"] is None for core in planned)
    written, _warnings = coredump.write_cores(archives["lookup"], str(dest), pids=[16, 1])
    assert [core["pid"] for core in written] == [16, 1]
    sizes = dict((core["pid"], core["size"]) for core in planned)
    assert all(core["size"] == sizes[core["pid"]] == os.path.getsize(core["path"]) for core in written)


def test_symlink_at_the_target_is_replaced_not_followed(archives, tmp_path):
    dest = tmp_path / "cores"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    os.symlink(str(victim), str(dest / "core.1"))
    with pytest.raises(CheckpointError, match="exists and is not a regular file"):
        coredump.write_cores(archives["counters"], str(dest))
    (core,), _warnings = coredump.write_cores(archives["counters"], str(dest), overwrite=True, checksum=False)
    assert victim.read_bytes() == b"keep me"
    assert not os.path.islink(core["path"]) and core["sha256"] is None
    assert sorted(os.listdir(str(dest))) == ["core.1"]


def test_unknown_pid_is_one_line(archives, tmp_path):
    with pytest.raises(CheckpointError) as caught:
        coredump.write_cores(archives["lookup"], str(tmp_path), pids=[1, 99])
    assert str(caught.value).endswith("no process 99 in the checkpoint (it has 1, 15, 16, 20)")


def test_a_pagemap_longer_than_the_pages_fails_cleanly(archives, tmp_path):
    path = archives["counters"]
    with CheckpointArchive(path) as archive:
        pages = archive.read("checkpoint/pages-1.img", limit=1 << 30)
    broken = derived_archive(path, str(tmp_path / "short.tar"), {"checkpoint/pages-1.img": pages[:-8192]})
    with pytest.raises(ImageError, match="points past the end of the pages image"):
        coredump.write_cores(broken, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()  # refused while planning, before anything is created


# -- aarch64 -------------------------------------------------------------------------------------


def test_aarch64_registers_land_where_gdb_reads_them(archives, tmp_path):
    path = archives["counters"]
    core_header, (leader,) = header_and_entries(path, "checkpoint/core-1.img")
    arm = type(leader)()
    arm.CopyFrom(leader)
    arm.ClearField("thread_info")
    arm.mtype = registers.MTYPE_AARCH64
    arm.ti_aarch64.clear_tid_addr = 0
    arm.ti_aarch64.tls = 0xFFFF8000DEADBEEF
    arm.ti_aarch64.gpregs.regs.extend(range(100, 131))
    arm.ti_aarch64.gpregs.sp = 0xFFFFC0DE0000
    arm.ti_aarch64.gpregs.pc = 0xAAAA00401234
    arm.ti_aarch64.gpregs.pstate = 0x60000000
    arm.ti_aarch64.fpsimd.vregs.extend(range(64))
    arm.ti_aarch64.fpsimd.fpsr = 0x10
    arm.ti_aarch64.fpsimd.fpcr = 0x20
    derived = derived_archive(path, str(tmp_path / "arm.tar"),
                              {"checkpoint/core-1.img": image_bytes(core_header, [arm])})
    (core,), _warnings = coredump.write_cores(derived, str(tmp_path / "out"))
    assert core["arch"] == "aarch64"
    with open(core["path"], "rb") as handle:
        assert ELFFile(handle).header["e_machine"] == "EM_AARCH64"
    prstatus = raw_note(core["path"], registers.NT_PRSTATUS)
    assert len(prstatus) == 392 and struct.unpack_from("<i", prstatus, 32)[0] == 1
    expected_regs = tuple(range(100, 131)) + (0xFFFFC0DE0000, 0xAAAA00401234, 0x60000000)
    assert struct.unpack_from("<34Q", prstatus, 112) == expected_regs
    fpregs = raw_note(core["path"], registers.NT_FPREGSET)
    assert len(fpregs) == 528 and struct.unpack_from("<64QII", fpregs) == tuple(range(64)) + (0x10, 0x20)
    assert raw_note(core["path"], registers.NT_ARM_TLS) == struct.pack("<Q", 0xFFFF8000DEADBEEF)


def raw_note(path, ntype):
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        note_segment = [s for s in elf.iter_segments() if s.header.p_type == "PT_NOTE"][0]
        data = note_segment.data()
    offset = 0
    while offset < len(data):
        namesz, descsz, kind = struct.unpack_from("<III", data, offset)
        desc = offset + 12 + (namesz + 3) // 4 * 4
        if kind == ntype:
            return data[desc:desc + descsz]
        offset = desc + (descsz + 3) // 4 * 4
    raise AssertionError("no note of type 0x%x" % ntype)


# -- pure functions ------------------------------------------------------------------------------


def test_note_padding_is_outside_descsz():
    data = writer.note("CORE", layout.NT_FILE, b"abcde")
    assert struct.unpack_from("<III", data) == (5, 5, layout.NT_FILE)
    assert data[12:20] == b"CORE\0\0\0\0" and data[20:25] == b"abcde" and len(data) == 28


@pytest.mark.parametrize("xcr0,size", [(0x3, 576), (0x7, 832), (0x1F, 1088), (0xE7, 2688), (0x2E7, 2696), (0x207, 2696)])
def test_xsave_size_is_gdbs(xcr0, size):
    assert registers.xsave_size(xcr0) == size


def test_xstate_claims_only_what_the_image_holds(archives):
    fpregs = core_image(archives["counters"], 1).thread_info.fpregs
    fxsave = registers.x86_fpregset("core", fpregs)
    area, xcr0 = registers.x86_xstate("core", fpregs, fxsave)
    assert xcr0 == 7 and len(area) == 832
    assert struct.unpack_from("<Q", area, 512)[0] == fpregs.xsave.xstate_bv & 7
    assert area[576:832] == struct.pack("<64I", *fpregs.xsave.ymmh_space)
    fpregs.xsave.pkru.append(0x55555554)
    area, xcr0 = registers.x86_xstate("core", fpregs, fxsave)
    assert xcr0 == 0x207 and len(area) == 2696 and struct.unpack_from("<I", area, 2688)[0] == 0x55555554


class _Vma(object):
    def __init__(self, start):
        self.start, self.end, self.prot = start, start + 4096, 3


def test_more_segments_than_e_phnum_holds_use_extended_numbering():
    core = coredump.ProcessCore.__new__(coredump.ProcessCore)
    core.arch = "x86_64"
    core.loads = [layout.Load(_Vma(0x10000 + index * 8192), 0, 4096, None) for index in range(70000)]
    core.notes_offset, core.notes_size = 1 << 30, 100
    headers = core.headers()
    fields = writer.EHDR.unpack_from(headers)
    e_phoff, e_shoff, e_phnum, e_shnum = fields[5], fields[6], fields[10], fields[12]
    assert (e_phoff, e_phnum, e_shnum) == (64, 0xFFFF, 1)
    assert e_shoff == 64 + 70001 * 56 and len(headers) == e_shoff + 64
    assert writer.SHDR.unpack_from(headers, e_shoff)[7] == 70001  # sh_info: the real count


def test_without_copy_file_range_the_core_is_the_same(archives, cores, tmp_path, monkeypatch):
    def refuse(*_args):
        raise OSError(18, "Invalid cross-device link")  # EXDEV, as across file systems on old kernels

    monkeypatch.setattr(coredump.os, "copy_file_range", refuse)
    (core,), _warnings = coredump.write_cores(archives["counters"], str(tmp_path))
    assert core["sha256"] == cores["counters"][1]["sha256"] == sha256(core["path"])


@needs_gdb
def test_untouched_anonymous_memory_has_no_file_bytes_and_gdb_reads_zeros(cores):
    """lookup's busybox (pid 15) has an 8 KiB anonymous VMA the pagemap does not mention: CRIU
    found no page there. The PT_LOAD covers it (memsz) with no bytes in the file (filesz 0), and
    gdb reads zeros there as from a hole (corelow.c reads sections without contents as zero)."""
    path = cores["lookup"][15]["path"]
    segment, = [s for s in loads(path) if s["p_vaddr"] == 0x7F7251332000]
    assert (segment["p_memsz"], segment["p_filesz"]) == (8192, 0)
    stdout, stderr = gdb(path, "x/2gx 0x7f7251332000", "x/2gx 0x7f7251333ff0")
    assert "Cannot access memory" not in stdout + stderr
    assert re.search(r"^0x7f7251332000:\s+0x0+\s+0x0+$", stdout, re.M), stdout
    assert re.search(r"^0x7f7251333ff0:\s+0x0+\s+0x0+$", stdout, re.M), stdout


BAD_LIBZ = b"/usr/lib/x86_64-linux-gnu/l\xe9\xffz.so.1.2.13"  # same length as libz's real path


@pytest.fixture(scope="module")
def non_utf8_archive(archives, tmp_path_factory):
    """counters with invalid UTF-8 in comm (core-1.img) and in libz's path (files.img), bytes
    replaced in place so the protobuf lengths stay right (pycriu hands such fields back as bytes)."""
    path = archives["counters"]
    header, (leader,) = header_and_entries(path, "checkpoint/core-1.img")
    core_bytes = image_bytes(header, [leader]).replace(b"\x07python3", b"\x07py\xffhon3")
    files_header, files = header_and_entries(path, "checkpoint/files.img")
    files_bytes = image_bytes(files_header, files)
    assert files_bytes.count(b"/usr/lib/x86_64-linux-gnu/libz.so.1.2.13") == 1
    files_bytes = files_bytes.replace(b"/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", BAD_LIBZ)
    return derived_archive(path, str(tmp_path_factory.mktemp("nonutf8") / "nonutf8.tar"),
                           {"checkpoint/core-1.img": core_bytes, "checkpoint/files.img": files_bytes})


def test_non_utf8_names_reach_the_core_as_bytes_and_the_result_escaped(non_utf8_archive, tmp_path):
    """The core holds what the kernel had (raw bytes in NT_FILE and pr_fname); the module's result
    and warnings show them escaped by text.escape (\\xff), one line each, no traceback."""
    result = module_outputs.run_module("checkpoint_coredump", {"path": non_utf8_archive, "dest": str(tmp_path)})
    assert not result.get("failed"), result.get("msg")
    core, = result["cores"]
    assert core["comm"] == "py\\xffhon3"
    assert any("/usr/lib/x86_64-linux-gnu/l\\xe9\\xffz.so.1.2.13" in warning for warning in result["warnings"])
    assert "Traceback" not in json.dumps(result) and all("\n" not in warning for warning in result["warnings"])
    nt_file = raw_note(core["path"], layout.NT_FILE)
    count = struct.unpack_from("<Q", nt_file)[0]
    assert BAD_LIBZ + b"\0" in nt_file[16 + 24 * count:]
    with open(core["path"], "rb") as handle:
        info = [n for s in ELFFile(handle).iter_segments() if s.header.p_type == "PT_NOTE" for n in s.iter_notes()
                if n["n_type"] == "NT_PRPSINFO"][0]["n_desc"]
    assert info["pr_fname"].rstrip(b"\0") == b"py\xffhon3"


def test_a_non_utf8_path_is_read_from_root_by_its_bytes(non_utf8_archive, tmp_path):
    """root: the mapped file is found under its raw byte name (no warning that it is unreadable)."""
    root = tmp_path / "root"
    os.makedirs(os.fsencode(str(root)) + b"/usr/lib/x86_64-linux-gnu")
    with open(os.fsencode(str(root)) + BAD_LIBZ, "wb") as handle:
        handle.write(b"\x7fELF" + bytes(200000))
    (core,), warnings = coredump.write_cores(non_utf8_archive, str(tmp_path / "cores"), root=str(root))
    assert not [w for w in warnings if "l\udce9\udcffz.so" in w and "not readable" in w]
    assert [w for w in warnings if "/usr/lib/x86_64-linux-gnu/libc.so.6 is not readable" in w]
    assert not [w for w in warnings if "l\udce9\udcffz.so" in w and "are not in the checkpoint" in w]


def test_non_utf8_names_in_the_memory_maps_are_escaped(non_utf8_archive):
    """The same names through the process tree's file table, in checkpoint_memory's maps."""
    result = module_outputs.run_module("checkpoint_memory", {"path": non_utf8_archive})
    assert not result.get("failed"), result.get("msg")
    proc, = [proc for proc in result["processes"] if proc["pid"] == 1]
    assert proc["comm"] == "py\\xffhon3"
    assert "/usr/lib/x86_64-linux-gnu/l\\xe9\\xffz.so.1.2.13" in [vma["path"] for vma in proc["vmas"]]
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # no lone surrogate left to break the output
