# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_memory's queries over one checkpoint: search, read, strings and dumps to files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import (
    PageMap,
    hexdump,
    load_processes,
    pagemap_name,
    printable,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.scan import (
    MAX_CONTEXT,
    Copy,
    Search,
    compile_query,
    scan,
    strings_query,
)

# -- destinations -----------------------------------------------------------------------------

READ_LIMIT = 1 << 20
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Buffer(object):
    """[base, base + size) in memory, zeros where nothing was dumped."""

    def __init__(self, base, size):
        self.base = base
        self.data = bytearray(size)

    def write(self, address, data):
        self.data[address - self.base:address - self.base + len(data)] = data


class _FileSink(object):
    """[base, base + size) of memory as a new 0600 file in ``dirfd``: a hidden temporary file,
    renamed over ``name`` only when complete; holes where nothing was dumped."""

    def __init__(self, dirfd, name, base, size):
        self.dirfd, self.name, self.base, self.size = dirfd, name, base, size
        self.written = 0
        self.tmp = ".%s.%s.tmp" % (name, os.urandom(6).hex())
        fd = os.open(self.tmp, _NEW_FILE, 0o600, dir_fd=dirfd)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def write(self, address, data):
        # Opened per window so a process with thousands of VMAs never holds thousands of fds.
        try:
            fd = os.open(self.tmp, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                         dir_fd=self.dirfd)
            try:
                os.pwrite(fd, data, address - self.base)
            finally:
                os.close(fd)
        except OSError as exc:  # a full disk, say: not to pass for a fault of the archive being read
            raise CheckpointError("dest", "cannot write %s (%s)" % (self.name, (exc.strerror or str(exc)).lower()))
        self.written += len(data)

    def commit(self):
        os.replace(self.tmp, self.name, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)

    def discard(self):
        try:
            os.unlink(self.tmp, dir_fd=self.dirfd)
        except OSError:
            pass


def _open_dir(path, create, check_mode):
    """A directory fd for ``path`` (created 0700 if ``create`` and missing); never through a symlink."""
    if create and not os.path.lexists(path) and not check_mode:
        try:
            os.mkdir(path, 0o700)
        except OSError as exc:
            raise CheckpointError("dest", "cannot create directory %s (%s)" % (path, exc.strerror or exc))
    if check_mode and create and not os.path.lexists(path):
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CheckpointError("dest", "%s is not a usable directory (%s)" % (path, (exc.strerror or str(exc)).lower()))


def _file_dest(dest, check_mode):
    """(dirfd, file name) for a single-file ``dest``."""
    full = os.path.abspath(dest)
    parent, name = os.path.split(full)
    if os.path.isdir(full) or not name:
        raise CheckpointError("dest", "%s is a directory; give the path of the file to write" % dest)
    return _open_dir(parent, False, check_mode), name


# -- the checkpoint_memory request ------------------------------------------------------------


def _address(value, option):
    try:
        number = value if isinstance(value, int) else int(str(value).strip(), 0)
    except ValueError:
        raise CheckpointError(option, "not an address: %r (use an integer or 0x-prefixed hex)" % (value,))
    if not 0 <= number < 1 << 64:
        raise CheckpointError(option, "address out of range: %r" % (value,))
    return number


def _range_dict(address, length, state):
    return {"address": address, "address_hex": "0x%x" % address, "length": length, "state": state}


class _Request(object):
    """One checkpoint_memory task: at most one of search, read, strings or write."""

    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []
        self.result = {"changed": False, "warnings": self.warnings}
        self.processes = {}
        self._indexes = []

    def _scan(self, path, consumers=(), pids=None, clip=None):
        index = scan(path, consumers, pids, clip)
        self._indexes.append(index)
        return index

    def _number(self, option, value, low, high):
        if value is None or not low <= value <= high:
            raise CheckpointError(option, "must be between %d and %d (got %r)" % (low, high, value))
        return value

    def run(self):
        try:
            return self._run()
        finally:
            for index in self._indexes:
                index.close()

    def _run(self):
        params = self.params
        query = [name for name in ("pattern", "hex", "regex") if params.get(name)]
        chosen = query[:1] + [name for name in ("read", "strings", "write") if params.get(name) is not None]
        if len(chosen) > 1:
            raise CheckpointError(chosen[1], "give only one of pattern/hex/regex, read, strings or write per task")
        if params.get("dest") and chosen[:1] not in (["read"], ["write"]):
            raise CheckpointError("dest", "is only used with read or write")
        if query:
            self._search()
        elif chosen == ["read"]:
            self._read(params["read"])
        elif chosen == ["strings"]:
            self._strings(params["strings"])
        elif chosen == ["write"]:
            self._write(params["write"])
        else:
            self._describe(self._scan(params["path"]), self._pids(params.get("pid")))
        return self.result

    @staticmethod
    def _pids(pid):
        return None if pid is None else [pid]

    def _describe(self, index, pids):
        procs = load_processes(index, pids)
        self.processes = dict((proc.pid, proc) for proc in procs)
        self.result["processes"] = [proc.describe() for proc in procs]
        for proc in procs:
            if proc.pagemap is None:
                continue
            sizes = proc.pagemap.state_sizes()
            if sizes["parent"] and not self.params.get("parent"):
                self.warnings.append("pid %d: %d bytes of its memory are in the parent checkpoint (set parent to "
                                     "read them)" % (proc.pid, sizes["parent"]))
            if sizes["lazy"]:
                self.warnings.append("pid %d: %d bytes are lazy pages, in no checkpoint image" % (proc.pid, sizes["lazy"]))
        return procs

    def _parent_pass(self, consumers):
        """Run ``consumers`` over the pages the processes left in the parent checkpoint."""
        clip = dict((pid, proc.pagemap.ranges("parent")) for pid, proc in self.processes.items() if proc.pagemap)
        clip = dict((pid, ranges) for pid, ranges in clip.items() if ranges)
        if not clip or not self.params.get("parent"):
            return None
        for consumer in consumers:
            consumer.source = "parent"
        index = self._scan(self.params["parent"], consumers, sorted(clip), clip)
        for pid in sorted(clip):
            if not index.has(pagemap_name(pid)):
                self.warnings.append("pid %d: the parent checkpoint has no memory for it" % pid)
        return index

    def _vma(self, pid, address):
        proc = self.processes.get(pid)
        vma = proc.vma_at(address) if proc else None
        return vma.brief() if vma else None

    def _search(self):
        params = self.params
        query = compile_query(params.get("pattern"), params.get("hex"), params.get("regex"),
                              params.get("ignore_case", False))
        search = Search(query, self._number("context", params.get("context", 32), 0, MAX_CONTEXT),
                        self._number("max_matches", params.get("max_matches", 100), 1, 100000))
        pids = self._pids(params.get("pid"))
        self._describe(self._scan(params["path"], [search], pids), pids)
        self._parent_pass([search])
        order = dict((pid, index) for index, pid in enumerate(self.processes))
        matches = []
        for hit in sorted(search.matches, key=lambda h: (order.get(h["pid"], 0), h["address"])):
            matches.append({
                "pid": hit["pid"], "address": hit["address"], "address_hex": "0x%x" % hit["address"],
                "length": len(hit["data"]), "match": printable(hit["data"]), "context": printable(hit["context"]),
                "context_address": hit["context_address"], "vma": self._vma(hit["pid"], hit["address"]),
                "image": hit["image"], "image_offset": hit["image_offset"], "source": hit["source"],
            })
        self.result.update(matches=matches, truncated=search.truncated)

    def _strings(self, spec):
        spec = spec or {}
        search = Search(strings_query(self._number("strings.min_length", spec.get("min_length", 4), 1, 1024)),
                        0, self._number("strings.max_strings", spec.get("max_strings", 1000), 1, 1000000))
        pid = spec.get("pid") if spec.get("pid") is not None else self.params.get("pid")
        self._describe(self._scan(self.params["path"], [search], self._pids(pid)), self._pids(pid))
        self._parent_pass([search])
        self.result.update(truncated=search.truncated, strings=[
            {"pid": hit["pid"], "address": hit["address"], "address_hex": "0x%x" % hit["address"],
             "string": hit["data"].decode("ascii")} for hit in sorted(search.matches, key=lambda h: (h["pid"], h["address"]))])

    def _missing(self, pid, address, length, parent_index):
        """Pieces of [address, address + length) that neither this dump nor its parent holds."""
        parent_map = None
        if parent_index is not None and parent_index.has(pagemap_name(pid)):
            parent_map = PageMap.load(parent_index, pid)
        missing = []
        for state, _offset, size in self.processes[pid].pagemap.states(address, length):
            pieces = [(state, None, size)]
            if state == "parent" and parent_map is not None:
                # What the parent lacks stays "parent": it would be in an older checkpoint still.
                pieces = [(st if st == "present" else "parent", None, sz) for st, _o, sz in parent_map.states(address, size)]
            for piece_state, _offset, piece_size in pieces:
                if piece_state != "present":
                    missing.append(_range_dict(address, piece_size, piece_state))
                address += piece_size
        return missing

    def _read(self, spec):
        if spec.get("pid") is None:
            raise CheckpointError("read.pid", "is required: the process whose memory to read")
        pid = spec["pid"]
        address = _address(spec.get("address"), "read.address")
        dest = self.params.get("dest")
        length = self._number("read.length", spec.get("length", 256), 1, (1 << 40) if dest else READ_LIMIT)
        if dest:
            dirfd, name = _file_dest(dest, self.check_mode)
            sink = None if self.check_mode else _FileSink(dirfd, name, address, length)
        else:
            dirfd, sink = None, _Buffer(address, length)
        try:
            copy = Copy(pid, [(address, address + length, sink)] if sink else [])
            self._describe(self._scan(self.params["path"], [copy], [pid]), [pid])
            if self.processes[pid].pagemap is None:
                raise CheckpointError("read.pid", "process %d has no memory in this checkpoint" % pid)
            parent_index = self._parent_pass([copy])
            out = {"pid": pid, "address": address, "address_hex": "0x%x" % address, "length": length,
                   "vma": self._vma(pid, address), "missing": self._missing(pid, address, length, parent_index)}
            if dest:
                if sink is not None:
                    sink.commit()
                    sink = None
                out["dest"] = dest
                self.result["changed"] = True
            else:
                out["hexdump"] = hexdump(bytes(copy.targets[0][2].data), address)
            self.result["read"] = out
        finally:
            if isinstance(sink, _FileSink):
                sink.discard()
            if dirfd is not None:
                os.close(dirfd)

    def _write(self, spec):
        if spec.get("pid") is None:
            raise CheckpointError("write.pid", "is required: the process whose memory to write")
        if not self.params.get("dest"):
            raise CheckpointError("write", "needs dest: a directory (whole process) or a file (one VMA)")
        pid, dest = spec["pid"], self.params["dest"]
        self._describe(self._scan(self.params["path"]), [pid])
        proc = self.processes[pid]
        if proc.pagemap is None:
            raise CheckpointError("write.pid", "process %d has no memory in this checkpoint" % pid)
        if spec.get("vma") is not None:
            vma = proc.vma_at(_address(spec["vma"], "write.vma"))
            if vma is None:
                raise CheckpointError("write.vma", "no VMA of pid %d holds address %s" % (pid, spec["vma"]))
            dirfd, name = _file_dest(dest, self.check_mode)
            names = [(vma, name)]
        else:
            dirfd = _open_dir(dest, True, self.check_mode)
            # Names come from numbers only, so nothing can land outside dest.
            names = [(vma, "%016x-%016x.bin" % (vma.start, vma.end)) for vma in proc.vmas
                     if proc.pagemap.state_sizes(vma.start, vma.end)["present"]
                     or (self.params.get("parent") and proc.pagemap.state_sizes(vma.start, vma.end)["parent"])]
        written, sinks = [], []
        try:
            if not self.check_mode:
                sinks = [_FileSink(dirfd, name, vma.start, vma.size) for vma, name in names]
                copy = Copy(pid, [(sink.base, sink.base + sink.size, sink) for sink in sinks])
                self._scan(self.params["path"], [copy], [pid])
                self._parent_pass([copy])
                for sink in sinks:
                    sink.commit()
                sinks = []
            for vma, name in names:
                entry = vma.brief()
                entry.update(file=dest if spec.get("vma") is not None else os.path.join(dest, name), size=vma.size,
                             dumped_size=proc.pagemap.state_sizes(vma.start, vma.end)["present"])
                written.append(entry)
        finally:
            for sink in sinks:
                sink.discard()
            if dirfd is not None:
                os.close(dirfd)
        self.result.update(written=written, changed=bool(written))


def run(params, check_mode=False):
    """The checkpoint_memory module's work: ``params`` as the module receives them."""
    return _Request(params, check_mode).run()
