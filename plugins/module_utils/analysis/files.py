# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open files of the checkpointed processes, and the deleted files CRIU kept.

CRIU records each open file once in ``files.img`` (``file_entry{type, id, reg|pipe|isk|...}``;
before CRIU 3.x one image per type such as ``reg-files.img``) and each process's descriptors in
``fdinfo-<files_id>.img``. A file that was deleted while open is listed in ``remap-fpath.img``:
a GHOST remap points at ``ghost-file-<id in hex>.img``, which holds the file's bytes (whole, or
as chunks of a sparse file), so the evidence can be recovered; a LINKED remap means CRIU linked
it under a temporary name in the container's own file system (not in the archive).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import itertools
import stat

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import text

# remap_file_path_entry.remap_type; images older than the field flag ghosts in remap_id's top bit.

# Recovered content is hashed in memory; sparse ghost files claiming more than this are reported
# as recoverable with size but no hash (CRIU's default --ghost-limit is 1 MiB anyway).
MAX_RECOVER = 256 * 1024 * 1024

# file_entry's sub-message for each file type, and the per-type images of CRIU before files.img.
SUBMESSAGE = {
    "REG": "reg", "PIPE": "pipe", "FIFO": "fifo", "INETSK": "isk", "UNIXSK": "usk", "PACKETSK": "psk",
    "NETLINKSK": "nlsk", "EVENTFD": "efd", "EVENTPOLL": "epfd", "SIGNALFD": "sgfd", "TIMERFD": "tfd",
    "INOTIFY": "ify", "FANOTIFY": "ffy", "NS": "nsf", "TUNF": "tunf", "EXT": "ext", "TTY": "tty",
    "MEMFD": "memfd", "BPFMAP": "bpf",
}
LEGACY_IMAGES = (
    ("reg-files.img", "REG_FILES", "REG"), ("pipes.img", "PIPES", "PIPE"), ("fifo.img", "FIFO", "FIFO"),
    ("inetsk.img", "INETSK", "INETSK"), ("unixsk.img", "UNIXSK", "UNIXSK"), ("packetsk.img", "PACKETSK", "PACKETSK"),
    ("netlinksk.img", "NETLINK_SK", "NETLINKSK"), ("eventfd.img", "EVENTFD_FILE", "EVENTFD"),
    ("eventpoll.img", "EVENTPOLL_FILE", "EVENTPOLL"), ("signalfd.img", "SIGNALFD", "SIGNALFD"),
    ("timerfd.img", "TIMERFD", "TIMERFD"), ("inotify.img", "INOTIFY_FILE", "INOTIFY"),
    ("fanotify.img", "FANOTIFY_FILE", "FANOTIFY"), ("tty.img", "TTY_FILES", "TTY"), ("tunfile.img", "TUNFILE", "TUNF"),
    ("ext-files.img", "EXT_FILES", "EXT"), ("ns-files.img", "NS_FILES", "NS"),
)
# How /proc/<pid>/fd shows anonymous inodes, so the paths read like what investigators know.
ANON_PATHS = {
    "EVENTFD": "anon_inode:[eventfd]", "EVENTPOLL": "anon_inode:[eventpoll]", "SIGNALFD": "anon_inode:[signalfd]",
    "TIMERFD": "anon_inode:[timerfd]", "INOTIFY": "anon_inode:inotify", "FANOTIFY": "anon_inode:[fanotify]",
    "BPFMAP": "anon_inode:bpf-map", "TUNF": "/dev/net/tun",
}
SOCKET_TYPES = frozenset(("INETSK", "UNIXSK", "PACKETSK", "NETLINKSK"))

# open(2) flags as the kernel keeps them in f_flags (x86-64/arm64 values); O_CREAT and friends
# are consumed by open and never appear here.
ACCESS_MODES = ("O_RDONLY", "O_WRONLY", "O_RDWR")
OPEN_FLAGS = (
    (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o4000000, "O_SYNC"), (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
)
FD_CLOEXEC = 1


_SHARED = {}  # flags lists and mode strings, shared by the records with the same value (300k files)
MAX_SHARED = 4096


def _shared(kind, value, make):
    key = (kind, value)
    made = _SHARED.get(key)
    if made is None:
        made = make(value)
        if len(_SHARED) < MAX_SHARED:
            _SHARED[key] = made
    return made


def open_flags(value):
    """``[access mode, flag, ...]`` names for an f_flags value; unknown bits as one hex string."""
    names = [ACCESS_MODES[value & 3] if value & 3 < 3 else "O_ACCMODE"]
    rest = value & ~3
    for bit, name in OPEN_FLAGS:
        if rest & bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append("0x%x" % rest)
    return names


def _field(message, name, default=None):
    """A scalar field of a protobuf message, or ``default`` when the message does not have it."""
    if message is None or name not in message.DESCRIPTOR.fields_by_name:
        return default
    return getattr(message, name)


class Ghost(object):
    """A deleted file's content as CRIU kept it in ``ghost-file-<id>.img``."""

    def __init__(self, image):
        self.entry = image.first()
        self._payloads = image.payloads
        self.chunked = bool(_field(self.entry, "chunks", False))
        if self.chunked and self.entry.HasField("size"):
            for offset, data in self._payloads:
                if offset + len(data) > self.entry.size:
                    raise ImageError(image.name, "chunk at offset %d runs past the file size %d"
                                     % (offset, self.entry.size))

    @property
    def is_regular(self):
        return stat.S_ISREG(self.entry.mode)

    @property
    def size(self):
        if self.entry.HasField("size"):
            return self.entry.size
        if self.chunked:
            return max([offset + len(data) for offset, data in self._payloads] or [0])
        return sum(len(data) for data in self._payloads)

    @property
    def present(self):
        """The bytes of content the image actually holds (a sparse file's holes not counted)."""
        return sum(len(data) for _offset, data in self.chunks())

    @property
    def missing(self):
        """Why the content is incomplete, or None: a whole-file ghost must hold its declared size
        (a sparse one's holes are zeros, CRIU writing only the data chunks)."""
        if not self.chunked and self.entry.HasField("size") and self.present != self.entry.size:
            return "the ghost image holds %d of the %d bytes declared" % (self.present, self.entry.size)
        return None

    def chunks(self):
        """(offset, bytes) pieces in file order; holes of a sparse file are not included."""
        if self.chunked:
            return sorted(self._payloads, key=lambda piece: piece[0])
        return [(0, self._payloads[0])] if self._payloads else []

    def stream(self, block=1024 * 1024):
        """The whole file as bytes pieces, holes as (shared) zero blocks: never held whole."""
        zeros, pos = bytes(block), 0
        for offset, data in self.chunks() + [(self.size, b"")]:
            if offset < pos:  # overlapping chunks (hostile): the first one holds those bytes
                data, offset = data[pos - offset:], pos
            data = data[:max(0, self.size - offset)]
            while pos < offset:
                step = min(block, offset - pos)
                yield zeros if step == block else zeros[:step]
                pos += step
            if data:
                yield data
                pos = max(pos, offset + len(data))

    def content(self):
        """The whole file, holes filled with zeros (the caller checks ``size`` against MAX_RECOVER)."""
        return b"".join(self.stream())

    def sha256(self):
        if self.size > MAX_RECOVER:
            return None
        digest = hashlib.sha256()
        for piece in self.stream():
            digest.update(piece)
        return digest.hexdigest()


class FileTable(object):
    """Every file CRIU dumped, by id, with the remaps that say which of them were deleted."""

    def __init__(self, images):
        self.images = images
        # files.img's entries stay in its image's bytes, found by id (criu/images.py Entries): a
        # message or a dict per file cost 140 MB for 300k open files. Old CRIU's per-type images are few.
        self._legacy = {}
        self._last = (None, (None, None))  # a row asks for its file several times in a row
        self._ghosts = {}
        self._ghost_info = {}
        self._entries = images.entries("files.img", "FILES")
        if self._entries:
            enum = self._entries[0].DESCRIPTOR.fields_by_name["type"].enum_type
            self._kinds = dict((value.number, value.name) for value in enum.values)
        else:
            self._load_legacy()
        self.remaps = {}
        for entry in images.entries("remap-fpath.img", "REMAP_FPATH"):
            if entry.HasField("remap_type"):
                kind, remap_id = entry.remap_type, entry.remap_id
            else:
                kind = names.REMAP_GHOST if entry.remap_id & names.OLD_REMAP_GHOST_BIT else names.REMAP_LINKED
                remap_id = entry.remap_id & ~names.OLD_REMAP_GHOST_BIT
            self.remaps[entry.orig_id] = (kind, remap_id)

    def _load_legacy(self):
        found = False
        for name, magic, kind in LEGACY_IMAGES:
            for entry in self.images.entries(name, magic):
                found = True
                self._legacy[entry.id] = (kind, entry)
        if not found and self.images.has("pstree.img"):
            self.images.warn("%s is missing: open files, sockets, exe, cwd and root are unknown" % names.FILES)

    def get(self, file_id):
        """(type name, its sub-message or None) of a file, (None, None) when CRIU did not record it."""
        if file_id == self._last[0]:
            return self._last[1]
        entry = self._entries.find(file_id) if self._entries else None
        if entry is None:
            return self._legacy.get(file_id, (None, None))
        kind = self._kinds.get(entry.type, "UNKNOWN")
        attr = SUBMESSAGE.get(kind)
        found = kind, (getattr(entry, attr) if attr and entry.HasField(attr) else None)
        self._last = (file_id, found)
        return found

    def items(self):
        """(id, type name, sub-message) of every file, decoded as they go."""
        for entry in self._entries:
            kind = self._kinds.get(entry.type, "UNKNOWN")
            attr = SUBMESSAGE.get(kind)
            yield entry.id, kind, (getattr(entry, attr) if attr and entry.HasField(attr) else None)
        for file_id, (kind, sub) in self._legacy.items():
            yield file_id, kind, sub

    def path(self, file_id):
        """The path /proc/<pid>/fd would show for the file (None when CRIU did not record it)."""
        kind, sub = self.get(file_id)
        if sub is None:
            return None
        if kind == "REG":
            return _strip_deleted(text(sub.name))
        if kind == "PIPE":
            return "pipe:[%d]" % sub.pipe_id
        if kind in ("FIFO", "TTY"):
            regf = _field(sub, "regf_id")
            return self.path(regf) if regf else None
        if kind in SOCKET_TYPES:
            return "socket:[%d]" % sub.ino if _field(sub, "ino") else None
        if kind == "MEMFD":
            return "/memfd:(inode %d)" % sub.inode_id
        if kind == "NS":
            return "ns:[%d]" % sub.ns_id
        return ANON_PATHS.get(kind)

    def remap(self, file_id):
        return self.remaps.get(file_id)

    def is_deleted(self, file_id):
        kind, sub = self.get(file_id)
        remap = self.remaps.get(file_id)
        if remap is not None and remap[0] in (names.REMAP_GHOST, names.REMAP_LINKED):
            return True
        if kind == "REG" and sub is not None and text(sub.name).endswith(" (deleted)"):
            return True
        return bool(kind == "UNIXSK" and _field(sub, "deleted", False))

    def ghost(self, file_id):
        """The Ghost backing a deleted file, or None (not a ghost remap, or its image is missing)."""
        remap = self.remaps.get(file_id)
        if remap is None or remap[0] != names.REMAP_GHOST:
            return None
        ghost_id = remap[1]
        if ghost_id not in self._ghosts:
            name = "ghost-file-%x.img" % ghost_id
            image = self.images.get(name, "GHOST_FILE", missing="the content of deleted file %s cannot be recovered"
                                    % self.path(file_id))
            self._ghosts[ghost_id] = Ghost(image) if image is not None else None
        return self._ghosts[ghost_id]

    def recovery(self, file_id):
        """``{recoverable, size, sha256}`` for a deleted file (hashes are computed once per ghost)."""
        remap = self.remaps.get(file_id)
        ghost = self.ghost(file_id)
        if ghost is None:
            reason = "CRIU linked it inside the container file system" if remap and remap[0] == names.REMAP_LINKED \
                else "no ghost image"
            return {"recoverable": False, "size": None, "sha256": None, "reason": reason}
        key = remap[1]
        if key not in self._ghost_info:
            if not ghost.is_regular:
                info = {"recoverable": False, "size": None, "sha256": None, "reason": "not a regular file"}
            elif ghost.missing:  # the declared size and the bytes present, apart
                info = {"recoverable": False, "size": ghost.size, "bytes_present": ghost.present, "sha256": None,
                        "reason": ghost.missing}
            else:
                info = {"recoverable": True, "size": ghost.size, "bytes_present": ghost.present,
                        "sha256": ghost.sha256(), "reason": None}
                if info["sha256"] is None:
                    self.images.warn("ghost file of %s is %d bytes: not hashed (limit %d)"
                                     % (self.path(file_id), ghost.size, MAX_RECOVER))
            self._ghost_info[key] = info
        return dict(self._ghost_info[key])

    def record(self, fd, file_id, fd_flags=0, fd_type=None):
        """One entry of a process's ``files`` list (``fd_type``: fdinfo's type name, used when the
        file itself is not in the table)."""
        kind, sub = self.get(file_id)
        kind = kind or fd_type
        if kind == "REG" and sub is not None and sub.HasField("mode") and stat.S_ISDIR(sub.mode):
            kind = "DIR"  # CRIU keeps directories (cwd, root, opened ones) as reg-files entries
        flags = _field(sub, "flags")
        item = {
            "fd": fd,
            "id": file_id,
            "type": kind,
            "path": self.path(file_id),
            "deleted": self.is_deleted(file_id),
            "flags": _shared("flags", flags, open_flags) if flags is not None else None,  # never changed in place
            "cloexec": bool(fd_flags & FD_CLOEXEC) if isinstance(fd, int) else None,
            "pos": _field(sub, "pos"),
            "mode": _shared("mode", sub.mode & 0o7777, "%04o".__mod__) if kind in ("REG", "DIR") and sub is not None and sub.HasField("mode") else None,
        }
        if item["deleted"] and kind == "REG":
            item.update(self.recovery(file_id))
        return item

    def ghosts_to_recover(self):
        """(file id, original path, Ghost) for every recoverable deleted regular file (complete), once per ghost."""
        seen = set()
        for file_id in sorted(self.remaps):
            ghost = self.ghost(file_id)
            if ghost is None or not ghost.is_regular or ghost.missing or self.remaps[file_id][1] in seen:
                continue
            seen.add(self.remaps[file_id][1])
            yield file_id, self.path(file_id), ghost


class FileRows(object):
    """A process's ``files`` list, its records made when read (FileTable.record), never held:
    300k open files made 300k dicts (130 MB) of which the result lists max_total_files. Reading it
    (iterating, ``len``, a slice, which is a list) costs time linear in what is read, memory for
    one record at a time. ``fds``: the fdinfo entries of its fd table (processes sharing one table,
    CLONE_FILES, share them: criu/include/pstree.h shared_fdtable, dumped once as
    fdinfo-<files_id>.img); ``extra``: (label, file id) of cwd, root and exe.

    A record's one text from the archive is its path (the rest are numbers, names of flags and
    types, digests): ``texts`` gives the paths, and the redaction passes (findings/redact.py)
    scrub each path as its record is made (``scrub_rows``)."""

    __slots__ = ("table", "fds", "extra", "scrub")

    def __init__(self, table, fds, extra=()):
        self.table, self.fds, self.extra, self.scrub = table, fds, tuple(extra), None

    def __len__(self):
        return len(self.fds) + len(self.extra)

    def __bool__(self):
        return len(self) > 0

    def __iter__(self):
        table, scrub = self.table, self.scrub
        rows = (table.record(fdinfo.fd, fdinfo.id, fdinfo.flags, fd_type(fdinfo)) for fdinfo in self.fds)
        for row in itertools.chain(rows, (table.record(label, file_id) for label, file_id in self.extra)):
            if scrub is not None and row["path"]:
                row["path"] = scrub(row["path"])
            yield row

    def counts(self):
        """(open descriptors, how many of them are of deleted files), without making the records."""
        deleted = 0
        for fdinfo in self.fds:
            deleted += self.table.is_deleted(fdinfo.id)
        return len(self.fds), deleted

    def texts(self, with_table=True):
        """The text from the archive each record holds (its path), without making the records; only
        those of cwd, root and exe without ``with_table`` (a shared table's, already read)."""
        table = self.table
        fds = (fdinfo.id for fdinfo in self.fds) if with_table else ()
        for file_id in itertools.chain(fds, (file_id for _label, file_id in self.extra)):
            path = table.path(file_id)
            if path:
                yield path

    def __getitem__(self, index):
        """A slice is a list of those records; an index, one record."""
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return list(itertools.islice(self, start, stop, step))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        # One record, made from its fd entry found by position (checkpoint_diff picks the rows it lists).
        if index < len(self.fds):
            fdinfo = self.fds[index]
            row = self.table.record(fdinfo.fd, fdinfo.id, fdinfo.flags, fd_type(fdinfo))
        else:
            row = self.table.record(*self.extra[index - len(self.fds)])
        if self.scrub is not None and row["path"]:
            row["path"] = self.scrub(row["path"])
        return row

    def scrub_rows(self, scrub):
        """Apply ``scrub`` (text in, text out) to each record's path from now on, after any scrub
        already there (redaction passes: in place, as they would rebind a list's records)."""
        inner = self.scrub
        self.scrub = scrub if inner is None else lambda text: scrub(inner(text))

    def __repr__(self):
        return "FileRows(%d)" % len(self)


def fd_type(fdinfo):
    """fdinfo's type name (REG, PIPE...), None when this pycriu does not know the number."""
    value = fdinfo.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number.get(fdinfo.type)
    return value.name if value is not None else None


def _strip_deleted(name):
    return name[:-len(" (deleted)")] if name.endswith(" (deleted)") else name
