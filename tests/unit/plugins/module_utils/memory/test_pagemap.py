# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memory.py on the real fixtures: pagemaps, VMAs, processes, random-access reads, hexdumps."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import hostile_archives as hostile
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import (
    PAGE_SIZE,
    PageMap,
    ProcessMemory,
    hexdump,
    load_processes,
    printable,
)

KEY = b"RANDOM_1432_KEY"
KEY_ADDRESS = 0x7F5EA804E320  # where counter.py's global holds it (found by grep in the pages image)
HEAP = (0x6D10000, 0x71AC000)


@pytest.fixture(scope="module")
def counters(archives):
    with CheckpointArchive(archives["counters"]) as archive:
        yield archive


def test_processes_like_checkpointctl_memparse(counters):
    (proc,) = load_processes(counters)
    assert (proc.pid, proc.comm) == (1, "python3")
    # memparse: every pagemap page; shared: the MAP_SHARED gconv-modules.cache mapping (7 pages).
    assert proc.memory_size == counters.member("checkpoint/pages-1.img").size == 11747328
    assert proc.shared_size == 7 * PAGE_SIZE
    described = proc.describe()
    assert described["dumped_size"] == proc.memory_size and described["parent_size"] == described["lazy_size"] == 0
    assert sum(vma["dumped_size"] for vma in described["vmas"]) == proc.memory_size


def test_vma_kinds_perms_and_paths(counters):
    (proc,) = load_processes(counters)
    by_kind = {}
    for vma in proc.vmas:
        by_kind.setdefault(vma.kind, []).append(vma)
    assert sorted(by_kind) == ["anon", "file", "heap", "stack", "vdso", "vsyscall", "vvar"]
    heap, = by_kind["heap"]
    assert (heap.start, heap.end, heap.perms, heap.path) == (HEAP[0], HEAP[1], "rw-p", None)
    stack, = by_kind["stack"]
    assert stack.perms == "rw-p" and stack.end == 0x7FFD5D8C7000
    assert by_kind["vsyscall"][0].start == 0xFFFFFFFFFF600000 and by_kind["vsyscall"][0].perms == "--xp"
    assert by_kind["vdso"][0].perms == "r-xp" and by_kind["vvar"][0].perms == "r--p"
    text = [vma for vma in by_kind["file"] if vma.perms == "r-xp" and vma.path == "/usr/bin/python3.11"]
    assert len(text) == 1 and text[0].start == 0x41F000
    shared = [vma for vma in proc.vmas if vma.shared]
    assert [vma.path for vma in shared] == ["/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"]
    assert shared[0].perms == "r--s"
    assert proc.vma_at(KEY_ADDRESS).kind == "anon" and proc.vma_at(0x10) is None


@pytest.mark.parametrize("key,pids,comms", [
    ("lookup", [1, 15, 16, 20], ["python3", "busybox", "sh", "busybox"]),
    ("worker41", [1, 6, 7], ["sh", "python3", "sleep"]),
])
def test_every_process_of_multi_process_dumps(archives, key, pids, comms):
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import scan

    index = scan(archives[key])  # compressed: one streaming pass, pages skipped
    procs = load_processes(index)
    assert [p.pid for p in procs] == pids and [p.comm for p in procs] == comms
    for proc in procs:
        assert proc.memory_size == index.member(proc.pagemap.pages).size
        assert [vma.kind for vma in proc.vmas].count("stack") == 1


def test_unknown_pid_names_the_option(counters):
    with pytest.raises(CheckpointError, match=r"^pid: no process 7 in this checkpoint \(it has 1\)$"):
        load_processes(counters, [7])


def test_random_access_read_and_fill(counters):
    pagemap = PageMap.load(counters, 1)
    memory = ProcessMemory(pagemap, counters.open_member(pagemap.pages).read_at)
    assert memory.read(KEY_ADDRESS, len(KEY)) == KEY
    assert pagemap.states(0x1000, 16) == [("unmapped", None, 16)]
    with pytest.raises(ImageError, match="not in the dump"):
        memory.read(0x1000, 16)
    assert memory.read(0x1000, 4, fill=b"\0") == b"\0" * 4


def test_states_ranges_and_clipping():
    def entry(vaddr, pages, flags):
        return criu_images.decode("p", hostile.pagemap(1, [(vaddr, pages, flags)])).entries[1]

    entries = [entry(0x10000, 2, 4), entry(0x12000, 1, 4), entry(0x14000, 1, 1), entry(0x15000, 1, 2), entry(0x16000, 1, 4)]
    pagemap = PageMap(1, PageMap._runs("p", entries, 4 * PAGE_SIZE), "pages", 4 * PAGE_SIZE)  # pylint: disable=protected-access
    assert list(pagemap.segments()) == [(0x10000, 0, 3 * PAGE_SIZE), (0x16000, 3 * PAGE_SIZE, PAGE_SIZE)]
    assert pagemap.ranges("parent") == [(0x14000, 0x15000)] and pagemap.ranges("lazy") == [(0x15000, 0x16000)]
    assert pagemap.state_sizes() == {"present": 4 * PAGE_SIZE, "parent": PAGE_SIZE, "lazy": PAGE_SIZE}
    assert pagemap.memory_size == 6 * PAGE_SIZE
    assert [s[0] for s in pagemap.states(0x12ff0, 0x3020)] == ["present", "unmapped", "parent", "lazy", "present"]
    clip = [(0x10100, 0x10200), (0x11ff0, 0x12010), (0x16000, 0x20000)]
    assert list(pagemap.clipped_segments(clip)) == [
        (0x10100, 0x100, 0x100), (0x11FF0, 0x1FF0, 0x20), (0x16000, 3 * PAGE_SIZE, PAGE_SIZE)]


def test_hexdump_and_printable():
    assert hexdump(b"RANDOM_1432_KEY\x00\x01", 0x7F5EA804E320) == [
        "00007f5ea804e320  52 41 4e 44 4f 4d 5f 31  34 33 32 5f 4b 45 59 00  |RANDOM_1432_KEY.|",
        "00007f5ea804e330  01                                                |.|",
    ]
    assert printable(b"a\\b\x00\xff\n") == "a\\\\b\\x00\\xff\\x0a"
