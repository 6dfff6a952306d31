# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_memory's queries over one checkpoint: search, read, strings and dumps to files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import (
    PageMap,
    hexdump,
    load_processes,
    pagemap_name,
    printable,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.scan import (
    MAX_CONTEXT,
    STRING_OVERHEAD,
    Copy,
    Search,
    compile_query,
    strings_query,
)
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import scan

# -- destinations -----------------------------------------------------------------------------

READ_LIMIT = 1 << 20


class _Buffer(object):
    """[base, base + size) in memory, zeros where nothing was dumped."""

    def __init__(self, base, size):
        self.base = base
        self.data = bytearray(size)

    def write(self, address, data):
        self.data[address - self.base:address - self.base + len(data)] = data


class _FileSink(object):
    """[base, base + size) of memory as a file of a Destination, renamed into place only when
    complete; holes where nothing was dumped."""

    def __init__(self, destination, name, base, size):
        self.base, self.size = base, size
        self.pending = destination.new_file(name, size)

    def write(self, address, data):
        self.pending.pwrite(data, address - self.base)

    def commit(self):
        self.pending.commit()

    def discard(self):
        self.pending.discard()


def _file_dest(dest, check_mode, protect):
    """(Destination, file name) for a single-file ``dest``."""
    full = os.path.abspath(dest)
    parent, name = os.path.split(full)
    if os.path.isdir(full) or not name:
        raise CheckpointError("dest", "%s is a directory; give the path of the file to write" % dest)
    if not os.path.isdir(parent):
        raise CheckpointError("dest", "%s is not a usable directory (no such file or directory)" % parent)
    return Destination(parent, check_mode, protect=protect, option="dest"), name


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


class MemoryQueries(object):
    """Queries over the memory of one checkpoint (``path``; ``parent``, the parent checkpoint of an
    incremental dump, serves the pages left there). Each query method fills ``result`` (and its
    ``warnings``) and returns it; ``pid`` limits the processes described."""

    def __init__(self, path, parent=None, pid=None, check_mode=False, max_vmas=None, checksum=False, max_processes=None):
        self.path, self.parent, self.pid = path, parent, pid
        self.max_vmas = max_vmas or None
        self.max_processes = max_processes or None
        self.check_mode = check_mode
        self.checksum = checksum
        self.archive_sha256 = None  # with checksum: from the first pass over ``path``, never a re-read
        self.warnings = []
        self.result = {"changed": False, "warnings": self.warnings}
        self.processes = {}
        self._indexes = []

    def _scan(self, path, consumers=(), pids=None, clip=None):
        index = scan(path, consumers, pids, clip, self.checksum and path == self.path and self.archive_sha256 is None)
        self._indexes.append(index)
        self.archive_sha256 = self.archive_sha256 or (index.sha256 if path == self.path else None)
        return index

    def _number(self, option, value, low, high):
        if value is None or not low <= value <= high:
            raise CheckpointError(option, "must be between %d and %d (got %r)" % (low, high, value))
        return value

    def _inputs(self):
        """What outputs must never be: the archives read."""
        return [self.path, self.parent]

    def close(self):
        for index in self._indexes:
            index.close()
        self._indexes = []

    def describe(self):
        """The processes and their VMAs."""
        self._describe(self._scan(self.path), self._pids(self.pid))
        return self.result

    @staticmethod
    def _pids(pid):
        return None if pid is None else [pid]

    def _describe(self, index, pids):
        procs = load_processes(index, pids)
        self.processes = dict((proc.pid, proc) for proc in procs)
        # 65k processes listed made a 35 MB result (240 MB RSS): max_processes of them, tree order.
        listed = procs[:self.max_processes] if self.max_processes else procs
        self.result["processes"] = [proc.describe(self.max_vmas) for proc in listed]
        # A few MB of mm image can list 500k VMAs: the result lists max_vmas a process (1.9 GB RSS).
        left_out = sum(max(0, len(proc.vmas) - self.max_vmas) for proc in listed) if self.max_vmas else 0
        self.result["omitted"] = {"vmas": left_out, "processes": len(procs) - len(listed)}
        if left_out:
            self.warnings.append("%d VMAs left out of processes[].vmas (max_vmas: %d a process); searches, reads "
                                 "and writes cover all" % (left_out, self.max_vmas))
        if len(listed) < len(procs):
            self.warnings.append("processes lists the first %d of %d processes (max_processes); searches, reads "
                                 "and writes cover all" % (len(listed), len(procs)))
        for proc in procs:
            if proc.pagemap is None:
                continue
            sizes = proc.pagemap.state_sizes()
            if sizes["parent"] and not self.parent:
                self.warnings.append("pid %d: %d bytes of its memory are in the parent checkpoint (set parent to "
                                     "read them)" % (proc.pid, sizes["parent"]))
            if sizes["lazy"]:
                self.warnings.append("pid %d: %d bytes are lazy pages, in no checkpoint image" % (proc.pid, sizes["lazy"]))
        return procs

    def _parent_pass(self, consumers):
        """Run ``consumers`` over the pages the processes left in the parent checkpoint."""
        clip = dict((pid, proc.pagemap.ranges("parent")) for pid, proc in self.processes.items() if proc.pagemap)
        clip = dict((pid, ranges) for pid, ranges in clip.items() if ranges)
        if not clip or not self.parent:
            return None
        for consumer in consumers:
            consumer.source = "parent"
        index = self._scan(self.parent, consumers, sorted(clip), clip)
        for pid in sorted(clip):
            if not index.has(pagemap_name(pid)):
                self.warnings.append("pid %d: the parent checkpoint has no memory for it" % pid)
        return index

    def _vma(self, pid, address):
        proc = self.processes.get(pid)
        vma = proc.vma_at(address) if proc else None
        return vma.brief() if vma else None

    def search(self, pattern=None, hex=None, regex=None, ignore_case=False, context=32, max_matches=100):  # pylint: disable=redefined-builtin
        """Matches of one literal, hex or regex query, with addresses and context."""
        query = compile_query(pattern, hex, regex, ignore_case)
        search = Search(query, self._number("context", context, 0, MAX_CONTEXT),
                        self._number("max_matches", max_matches, 1, 100000))
        pids = self._pids(self.pid)
        self._describe(self._scan(self.path, [search], pids), pids)
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
        return self.result

    def strings(self, min_length=4, max_strings=1000, pid=None):
        """Printable ASCII runs of at least ``min_length`` bytes."""
        search = Search(strings_query(self._number("strings.min_length", min_length, 1, 1024)),
                        0, self._number("strings.max_strings", max_strings, 1, 1000000), STRING_OVERHEAD)
        pid = pid if pid is not None else self.pid
        self._describe(self._scan(self.path, [search], self._pids(pid)), self._pids(pid))
        self._parent_pass([search])
        self.result.update(truncated=search.truncated, strings=[
            {"pid": hit["pid"], "address": hit["address"], "address_hex": "0x%x" % hit["address"],
             "string": hit["data"].decode("ascii")} for hit in sorted(search.matches, key=lambda h: (h["pid"], h["address"]))])
        return self.result

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

    def read(self, pid, address, length=256, dest=None):
        """[address, address + length) of ``pid``: a hexdump, or the bytes into the file ``dest``."""
        if pid is None:
            raise CheckpointError("read.pid", "is required: the process whose memory to read")
        address = _address(address, "read.address")
        length = self._number("read.length", length, 1, (1 << 40) if dest else READ_LIMIT)
        if dest:
            destination, name = _file_dest(dest, self.check_mode, self._inputs())
            sink = None if self.check_mode else _FileSink(destination, name, address, length)
        else:
            destination, sink = None, _Buffer(address, length)
        try:
            copy = Copy(pid, [(address, address + length, sink)] if sink else [])
            self._describe(self._scan(self.path, [copy], [pid]), [pid])
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
            if destination is not None:
                destination.close()
        return self.result

    def write(self, pid, dest, vma=None):
        """The memory of ``pid`` into files: every dumped VMA into the directory ``dest``, or the VMA
        holding address ``vma`` into the file ``dest``."""
        if pid is None:
            raise CheckpointError("write.pid", "is required: the process whose memory to write")
        if not dest:
            raise CheckpointError("write", "needs dest: a directory (whole process) or a file (one VMA)")
        self._describe(self._scan(self.path), [pid])
        proc = self.processes[pid]
        if proc.pagemap is None:
            raise CheckpointError("write.pid", "process %d has no memory in this checkpoint" % pid)
        if vma is not None:
            where = vma
            vma = proc.vma_at(_address(where, "write.vma"))
            if vma is None:
                raise CheckpointError("write.vma", "no VMA of pid %d holds address %s" % (pid, where))
            destination, name = _file_dest(dest, self.check_mode, self._inputs())
            names = [(vma, name)]
        else:
            destination = Destination(dest, self.check_mode, create=True, protect=self._inputs(), option="dest")
            # Names come from numbers only, so nothing can land outside dest.
            names = [(vma, "%016x-%016x.bin" % (vma.start, vma.end)) for vma in proc.vmas
                     if proc.pagemap.state_sizes(vma.start, vma.end)["present"]
                     or (self.parent and proc.pagemap.state_sizes(vma.start, vma.end)["parent"])]
        written, sinks = [], []
        try:
            if not self.check_mode:
                sinks = [_FileSink(destination, name, vma.start, vma.size) for vma, name in names]
                copy = Copy(pid, [(sink.base, sink.base + sink.size, sink) for sink in sinks])
                self._scan(self.path, [copy], [pid])
                self._parent_pass([copy])
                for sink in sinks:
                    sink.commit()
                sinks = []
            single = vma is not None
            for one, name in names:
                entry = one.brief()
                entry.update(file=dest if single else os.path.join(dest, name), size=one.size,
                             dumped_size=proc.pagemap.state_sizes(one.start, one.end)["present"])
                written.append(entry)
        finally:
            for sink in sinks:
                sink.discard()
            destination.close()
        self.result.update(written=written, changed=bool(written))
        return self.result
