# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The process tree of a checkpoint: identity, state, credentials, command line and environment.

``pstree.img`` gives the tree; ``core-<pid>.img`` the name, state and credentials; ``mm-<pid>.img``
where argv and environ live in memory and which file is the executable; ``fs-<pid>.img`` the cwd
and root. argv and environ are read from the dumped pages by random access through the pagemap
(memory.py): only those few pages are touched, so the size of the memory does not matter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.files import FileRows
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.sockets import SocketRows
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import range_readers
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import text
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import (
    PageMap,
    ProcessMemory,
    pages_name,
)

# The argv/environ blocks are small; a lying mm image must not make us read megabytes. And in
# total: 500 processes can each claim 2 MiB of the same (or of zero, well compressed) pages, and a
# MiB of "ab\0" is 350k strings (18 MB of Python objects).
MAX_STRINGS = 1 << 20
ARGV_ENV_BYTES = 16 << 20  # all processes together (real ones: a few kB each)
ARGV_ENV_STRINGS = 100000  # argv items and environment entries, all processes together

CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


def capability_names(words):
    """Names of the bits set in a capability set stored as 32-bit words, low word first."""
    value = 0
    for index, word in enumerate(words):
        value |= word << (32 * index)
    names = []
    bit = 0
    while value >> bit:
        if value >> bit & 1:
            names.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else "CAP_%d" % bit)
        bit += 1
    return names


def tree_order(entries, warn):
    """pstree entries parent-first, children in the order CRIU listed them; loops are broken."""
    by_pid = dict((entry.pid, entry) for entry in entries)
    children = {}
    roots = []
    for entry in entries:
        if entry.ppid in by_pid and entry.ppid != entry.pid:
            children.setdefault(entry.ppid, []).append(entry)
        else:
            roots.append(entry)
    ordered, seen = [], set()
    stack = list(reversed(roots))
    while stack:
        entry = stack.pop()
        if entry.pid in seen:
            continue
        seen.add(entry.pid)
        ordered.append(entry)
        stack.extend(reversed(children.get(entry.pid, [])))
    for entry in entries:
        if entry.pid not in seen:
            warn("%s: pid %d is not reachable from a root (parent loop)" % (names.PSTREE, entry.pid))
            seen.add(entry.pid)
            ordered.append(entry)
    return ordered, children


def _creds(images, pid, core):
    thread_core = core.thread_core if core is not None and core.HasField("thread_core") else None
    if thread_core is not None and thread_core.HasField("creds"):
        return thread_core.creds
    # CRIU before 1.x kept credentials in their own image.
    return images.first("creds-%d.img" % pid, "CREDS")


def _seccomp(core):
    if core is None or not core.HasField("thread_core") or not core.thread_core.HasField("seccomp_mode"):
        return None
    field = core.thread_core.DESCRIPTOR.fields_by_name["seccomp_mode"]
    value = field.enum_type.values_by_number.get(core.thread_core.seccomp_mode)
    return value.name if value is not None else str(core.thread_core.seccomp_mode)


def _env_dict(strings):
    env = {}
    for item in strings:
        key, sep, value = item.partition("=")
        if key not in env:  # getenv(3) returns the first definition
            env[key] = value if sep else ""
    return env


# Empty lists and dicts shared by the processes that have nothing there (100k pids, five of them
# each: 29 MB): results are never changed in place, only rebound (redaction, caps, findings' loans).
_EMPTY_LIST, _EMPTY_DICT = [], {}


def _or_shared(value):
    return value if value else (_EMPTY_DICT if isinstance(value, dict) else _EMPTY_LIST)


def describe(images, entry, children, files, sockets=None, detail=True, list_files=True):
    """One process, everything but what is read from memory (filled in by read_memory).

    ``files`` (a FileTable) resolves exe, cwd and root; ``list_files`` adds the ``files`` list,
    a SocketTable in ``sockets`` the ``sockets`` list; ``detail`` adds credentials and memory fields.
    """
    pid = entry.pid
    core = images.first("core-%d.img" % pid, "CORE", missing="pid %d: name, state and credentials are unknown" % pid)
    tc = core.tc if core is not None and core.HasField("tc") else None
    state = names.TASK_STATE_NAMES.get(tc.task_state, "unknown (%d)" % tc.task_state) if tc is not None else None
    proc = {
        "pid": pid, "ppid": entry.ppid, "pgid": entry.pgid, "sid": entry.sid,
        "comm": text(tc.comm) if tc is not None else None,
        "threads": list(entry.threads) or [pid],
        "children": _or_shared([child.pid for child in children.get(pid, ())]),
        "state": state,
    }
    if detail:
        creds = _creds(images, pid, core)
        proc.update({
            "exit_code": tc.exit_code if tc is not None and state == "zombie" else None,
            "uid": creds.uid if creds is not None else None,
            "gid": creds.gid if creds is not None else None,
            "euid": creds.euid if creds is not None else None,
            "egid": creds.egid if creds is not None else None,
            "capabilities": capability_names(creds.cap_eff) if creds is not None else None,
            "seccomp": _seccomp(core),
            "argv": _EMPTY_LIST, "cmdline": "", "env": _EMPTY_DICT, "memory_size": 0,
        })
    if state == "zombie":
        # A zombie has no memory, files or file system context left to dump.
        proc.update({"exe": None, "exe_deleted": False, "cwd": None, "root": None})
        if list_files:
            proc["files"] = []
        if sockets is not None:
            proc["sockets"] = []
        return proc
    mm = images.first("mm-%d.img" % pid, "MM", missing="pid %d: command line, environment and executable are unknown"
                      % pid)
    fs = images.first("fs-%d.img" % pid, "FS", missing="pid %d: cwd and root are unknown" % pid)
    exe_id = mm.exe_file_id if mm is not None and mm.exe_file_id else None
    proc.update({
        "exe": files.path(exe_id) if files is not None and exe_id else None,
        "exe_deleted": bool(files is not None and exe_id and files.is_deleted(exe_id)),
        "cwd": files.path(fs.cwd_id) if files is not None and fs is not None else None,
        "root": files.path(fs.root_id) if files is not None and fs is not None else None,
    })
    if (list_files and files is not None) or sockets is not None:
        fds = _fd_entries(images, pid, core)
        if list_files and files is not None:
            labelled = (("cwd", fs.cwd_id if fs else None), ("root", fs.root_id if fs else None), ("exe", exe_id))
            extra = [(label, file_id) for label, file_id in labelled if file_id and files.get(file_id)[0] is not None]
            proc["files"] = FileRows(files, fds, extra) if len(fds) or extra else _EMPTY_LIST
        if sockets is not None:
            proc["sockets"] = _or_shared(SocketRows.of(sockets, fds))
    return proc


def _fd_entries(images, pid, core):
    """The fdinfo entries of a process's fd table: its image is named by its files_id when the
    inventory says so (fd tables shared between tasks are dumped once), by its pid in older images."""
    inventory = images.first("inventory.img", "INVENTORY")
    if inventory is None or not inventory.fdinfo_per_id:
        name = "fdinfo-%d.img" % pid
    else:
        ids = images.first("ids-%d.img" % pid, "IDS")
        if ids is None and core is not None and core.HasField("ids"):
            ids = core.ids  # CRIU before 2.x kept the object ids in the core image
        if ids is None:
            images.warn("%s is missing: pid %d: open files are unknown" % (names.ids(pid), pid))
            return []
        name = "fdinfo-%d.img" % ids.files_id
    return images.entries(name, "FDINFO", missing="pid %d: open files are unknown" % pid)


def plan_memory(images, procs):
    """Load each live process's pagemap and note the pages image ranges holding argv and environ.

    Returns ({pid: (pagemap, mm, (argv bytes, environ bytes), cut)}, {pages member: [(offset, length)]})
    for range_readers: what is read of each block, MAX_STRINGS at most, ARGV_ENV_BYTES for all
    processes together in tree order (``cut``: less than MAX_STRINGS allows).
    """
    maps, wanted, left = {}, {}, ARGV_ENV_BYTES
    for proc in procs:
        pid = proc["pid"]
        if proc["state"] == "zombie":
            continue
        mm = images.first("mm-%d.img" % pid, "MM")
        if mm is None:
            continue
        pagemap = PageMap.built(images.archive, pid)  # by the Checkpoint's memory pass, say
        if pagemap is None:
            head = images.first("pagemap-%d.img" % pid, "PAGEMAP",
                                missing="pid %d: command line and environment are unknown" % pid)
            if head is None:
                continue
            if not images.archive.has(pages_name(head.pages_id)):
                images.warn("%s is missing: pid %d's command line and environment are unknown"
                            % (pages_name(head.pages_id), pid))
                continue
            pagemap = PageMap.of(images.archive, pid)
        sizes, cut = [], False
        for start, end in ((mm.mm_arg_start, mm.mm_arg_end), (mm.mm_env_start, mm.mm_env_end)):
            asked = max(0, min(end - start, MAX_STRINGS))
            size = min(asked, left)
            left -= size
            sizes.append(size)
            cut = cut or size < asked
            if size:
                for offset, length in pagemap.locate(start, size):
                    if offset is not None:
                        wanted.setdefault(pagemap.pages, []).append((offset, length))
        maps[pid] = (pagemap, mm, tuple(sizes), cut)
    return maps, wanted


def argv_env_ranges(index, pid, final):
    """The virtual ranges holding the argv and environ of ``pid`` (as much as read_memory reads),
    from its mm image in ``index``; None while the image may still come (``final`` false)."""
    name = names.mm(pid)
    if not index.has(name):
        return [] if final else None
    try:
        mm = ProcessTree.of(index).image(name, "MM").first()
    except CheckpointError:
        return []  # read_memory reports it
    return [(start, start + min(end - start, MAX_STRINGS))
            for start, end in ((mm.mm_arg_start, mm.mm_arg_end), (mm.mm_env_start, mm.mm_env_end)) if end > start]


def read_memory(images, procs, captured=None):
    """Fill argv, cmdline, env and memory_size from the dumped pages: ``captured`` ({pages image:
    reader}) holds what the Checkpoint's pass kept of them; otherwise they are read (in place, or
    one more pass over a compressed archive; None when the pass kept none)."""
    maps, wanted = plan_memory(images, procs)
    if captured is not None and all(name in captured for name in wanted):
        readers = captured
    else:
        readers = range_readers(images.archive, wanted) if wanted else {}
    left, cut = ARGV_ENV_STRINGS, []
    for proc in procs:
        if proc["pid"] not in maps:
            continue
        pagemap, mm, (arg_size, env_size), cut_bytes = maps[proc["pid"]]
        proc["memory_size"] = pagemap.present_size
        reader = readers.get(pagemap.pages)
        if reader is None:
            images.warn("pid %d: the pages holding its command line are not in this dump" % proc["pid"])
            continue
        memory = ProcessMemory(pagemap, reader)
        argv = memory.read_strings(mm.mm_arg_start, mm.mm_arg_end, arg_size)
        env = memory.read_strings(mm.mm_env_start, mm.mm_env_end, env_size)
        short = cut_bytes or len(argv) + len(env) > left
        argv = argv[:left]
        env = env[:left - len(argv)]
        left -= len(argv) + len(env)
        proc["argv"] = argv
        proc["cmdline"] = " ".join(argv)
        proc["env"] = _env_dict(env)
        if short:
            cut.append(proc["pid"])
        elif not argv:
            images.warn("pid %d: its command line is not in the dumped pages" % proc["pid"])
    if cut:
        images.warn("the command lines and environments of %d processes (pid %d first) were read in part or not at "
                    "all: all processes together are read up to %d MiB and %d strings" % (
                        len(cut), cut[0], ARGV_ENV_BYTES >> 20, ARGV_ENV_STRINGS))
