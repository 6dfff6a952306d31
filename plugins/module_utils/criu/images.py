# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decoding CRIU images into protobuf messages.

The message classes and the magic table are pycriu's (the distribution's criu package), so we
decode exactly what CRIU wrote. The framing is ours: entries stay protobuf messages (no dict
conversion, which is slow and breaks on protobuf 7), payloads are sliced without copying, every
length is checked against the image, and fields unknown to an older pycriu stay reachable
(CRIU 4.2 moved the pagemap's ``nr_pages`` to field 5: see ``pagemap_pages``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import array
import bisect
import importlib
import struct

from ansible_collections.forensic.checkpoint.plugins.module_utils import dependencies
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ImageError

# pycriu comes from the distribution's criu package (no PyPI release); dependencies.import_pycriu
# finds it inside a virtualenv too, and tells a missing pycriu from an unusable protobuf. It is
# loaded on first use, so importing this module never fails. DecodeError and UnknownFieldSet come
# from protobuf, which pycriu needs anyway.
_PYCRIU = {}

IMG_COMMON = 0x54564319
IMG_SERVICE = 0x55105940
U32 = struct.Struct("<I")

# Entries followed by raw bytes, and how many: (entry -> payload length). Ghost files are special.
_PAYLOAD = {
    "PIPES_DATA": lambda e: e.bytes,
    "FIFO_DATA": lambda e: e.bytes,
    "SK_QUEUES": lambda e: e.length,
    "TCP_STREAM": lambda e: e.inq_len + e.outq_len,
    "BPFMAP_DATA": lambda e: e.keys_bytes + e.values_bytes,
    "IPCNS_SHM": lambda e: _round_up(e.size, 4),
    "IPCNS_SEM": lambda e: _round_up(2 * e.nsems, 8),
}
# A pagemap of 1M one-page entries is a few MB; packed (memory/pagemap.py Runs) it stays small.
MAX_ENTRIES = 2000000
# Images are decoded in memory; only ghost files (deleted files' content) can legitimately be big.
MAX_IMAGE = 64 * 1024 * 1024
# Images whose size follows from what the readers keep of them: a pstree of criu/tree.py's
# MAX_TASKS tasks and MAX_THREAD_IDS thread ids is under 8 MiB (each task at most 28 bytes with its
# header, each thread id 6). Decoding a bigger one costs 4 bytes a thread id before any is dropped
# (30M of them in a 60 MB image: 976 MB). A mount namespace's mountpoints image holds about 300
# bytes a mount (a container has tens of them; analysis/mounts.py lists MAX_MOUNTS): 170k mounts in
# a 64 MB image took 1.7 GB and 118 s.
IMAGE_LIMITS = {"PSTREE": 8 * 1024 * 1024, "MNTS": 4 * 1024 * 1024}
_LIMITED = (("pstree.img", "PSTREE"), ("mountpoints-", "MNTS"))  # file name (or its start): magic
# Images with one entry per open file or descriptor (300k of them in one process cost 125 MB as
# decoded messages): their entries are found by offset and decoded when read (see Entries).
BY_OFFSET = frozenset(("FILES", "FDINFO"))
BATCH = 4096

_PAGEMAP_NR_PAGES_FIELD = 5


def _round_up(value, align):
    return (value + align - 1) // align * align


def require_pycriu(subject):
    """Load pycriu once (MissingDependency naming ``subject`` and the interpreter when it cannot be)."""
    if not _PYCRIU:
        dependencies.import_pycriu(subject)
        loaded = dict((name, importlib.import_module("pycriu.images." + name)) for name in ("images", "magic", "pb"))
        loaded["DecodeError"] = importlib.import_module("google.protobuf.message").DecodeError
        loaded["UnknownFieldSet"] = importlib.import_module("google.protobuf.unknown_fields").UnknownFieldSet
        loaded["descriptor_pb2"] = importlib.import_module("google.protobuf.descriptor_pb2")
        loaded["message_factory"] = importlib.import_module("google.protobuf.message_factory")
        _PYCRIU.update(loaded)
    return _PYCRIU


class Image(object):
    """A decoded image: its magic name, the entries (protobuf messages) and their payloads."""

    __slots__ = ("name", "magic", "entries", "payloads", "cost")

    def __init__(self, name, magic, entries, payloads):
        self.name = name
        self.magic = magic
        self.entries = entries
        self.payloads = payloads
        self.cost = 0  # about what it takes in memory (decode sets it; criu/tree.py's cache counts it)

    def first(self):
        if not self.entries:
            raise ImageError(self.name, "image has no entries")
        return self.entries[0]


def size_limit(member):
    """The most bytes of ``member`` read to decode it: IMAGE_LIMITS of what its name holds, else
    MAX_IMAGE (checked before reading, so a 60 MB pstree is not read to be refused)."""
    base = member.rsplit("/", 1)[-1]
    return next((IMAGE_LIMITS[magic] for start, magic in _LIMITED if base.startswith(start)), MAX_IMAGE)


def image_magic(name, data):
    """The magic name of an image (``PSTREE``...), raising ImageError on a bad header."""
    require_pycriu(name)
    if len(data) < 4:
        raise ImageError(name, "truncated image header (%d bytes)" % len(data))
    value, = U32.unpack_from(data, 0)
    offset = 4
    if value in (IMG_COMMON, IMG_SERVICE):
        if len(data) < 8:
            raise ImageError(name, "truncated image header (%d bytes)" % len(data))
        value, = U32.unpack_from(data, 4)
        offset = 8
    magic = _PYCRIU["magic"].by_val.get(value)
    if magic is None:
        raise ImageError(name, "not a CRIU image (unknown magic 0x%08x)" % value)
    return magic, offset


# What decoded messages take in memory for a byte of image, about (a core image of 1.9 KB: 10.5
# KB), and for each image (0.4 KB for an 18-byte fs image).
MESSAGE_EXPANSION, IMAGE_OVERHEAD = 6, 1024


def decode(name, data, expect=None):
    """Decode a whole image held in ``data`` (bytes or memoryview), with its ``cost``.

    ``expect`` is the magic name the caller needs; a different one is an error naming both.
    """
    image = _decode(name, data, expect)
    # Entries read by offset and payloads (ghost files, pipe data) stay views of the bytes.
    held = image.magic in BY_OFFSET or image.magic in _PAYLOAD or image.magic == "GHOST_FILE"
    image.cost = IMAGE_OVERHEAD + len(data) * (1 if held else MESSAGE_EXPANSION)
    return image


def _decode(name, data, expect):
    magic, offset = image_magic(name, data)
    if expect is not None and magic != expect:
        raise ImageError(name, "expected a %s image, found %s" % (expect, magic))
    if len(data) > IMAGE_LIMITS.get(magic, len(data)):
        raise ImageError(name, "%s image of %d bytes, more than the %d this reader decodes"
                         % (magic, len(data), IMAGE_LIMITS[magic]))
    view = memoryview(data)
    if magic == "GHOST_FILE":
        return _decode_ghost(name, view, offset)
    handler = _PYCRIU["images"].handlers.get(magic)
    if handler is None or magic == "PAGEMAP":
        cls = _PYCRIU["pb"].pagemap_entry if magic == "PAGEMAP" else None
        if cls is None:
            raise ImageError(name, "%s images are not decoded by this pycriu" % magic)
    else:
        cls = handler.payload
    payload_len = _PAYLOAD.get(magic)
    if payload_len is None:
        if magic == "PAGEMAP":
            head, offset = _entry(name, view, offset, _PYCRIU["pb"].pagemap_head)
            return Image(name, magic, _Chain(head, _batch(name, view, offset, cls)), [])
        if magic in BY_OFFSET:
            return Image(name, magic, Entries(name, view, offset, cls), [])
        return Image(name, magic, _batch(name, view, offset, cls), [])
    entries, payloads = [], []
    total = len(view)
    while offset < total:
        msg, offset = _entry(name, view, offset, _PYCRIU["pb"].pagemap_head if magic == "PAGEMAP" and not entries
                             else cls)
        entries.append(msg)
        if payload_len is not None:
            size = payload_len(msg)
            if size > total - offset:
                raise ImageError(name, "entry %d claims a %d-byte payload but only %d bytes remain"
                                 % (len(entries) - 1, size, total - offset))
            payloads.append(view[offset:offset + size])
            offset += size
        if len(entries) > MAX_ENTRIES:
            raise ImageError(name, "more than %d entries" % MAX_ENTRIES)
    return Image(name, magic, entries, payloads)


class _Chain(object):
    """A pagemap's entries: its head, then the pagemap_entry messages (``[1:]`` is those)."""

    __slots__ = ("head", "rest")

    def __init__(self, head, rest):
        self.head, self.rest = head, rest

    def __len__(self):
        return 1 + len(self.rest)

    def __iter__(self):
        yield self.head
        yield from self.rest

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index == slice(1, None, None):
                return self.rest
            return list(self)[index]
        if index in (0, -len(self)):
            return self.head
        return self.rest[index - 1 if index > 0 else index]


class Entries(object):
    """The entries of an image, held as its bytes and each entry's offset (8 bytes an entry):
    ``entries[i]`` decodes one, iterating decodes BATCH at a time, so only what a reader holds is
    ever a message. Every entry is decoded once here, a batch at a time, so a corrupt image still
    fails when it is opened (ImageError naming the entry), not later."""

    __slots__ = ("name", "_view", "_offsets", "_cls", "_ids", "_order")

    def __init__(self, name, view, offset, cls):
        self.name, self._view, self._cls = name, view, cls
        self._ids = self._order = None
        self._offsets = array.array("Q")
        total = len(view)
        while offset < total:
            if total - offset < 4:
                raise ImageError(name, "truncated entry header at offset %d" % offset)
            size, = U32.unpack_from(view, offset)
            if size > total - offset - 4:
                raise ImageError(name, "entry at offset %d claims %d bytes but only %d remain"
                                 % (offset, size, total - offset - 4))
            self._offsets.append(offset)
            offset += 4 + size
            if len(self._offsets) > MAX_ENTRIES:
                raise ImageError(name, "more than %d entries" % MAX_ENTRIES)
        for _batch_entries in self.batches():
            pass

    def __len__(self):
        return len(self._offsets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _entry(self.name, self._view, self._offsets[index], self._cls)[0]

    def batches(self):
        """The entries, BATCH of them at a time (one parse each, dropped when the reader drops them)."""
        offsets, view = self._offsets, self._view
        for first in range(0, len(offsets), BATCH):
            last = first + BATCH
            end = offsets[last] if last < len(offsets) else len(view)
            yield _batch(self.name, view[offsets[first]:end], 0, self._cls, offsets[first])

    def __iter__(self):
        for batch in self.batches():
            yield from batch

    def find(self, key):
        """The entry whose ``id`` is ``key`` (the last of several), None when there is none: found
        through the ids sorted once (4 bytes an entry; and 4 more for the order when the image does
        not list them in order, as CRIU does)."""
        if self._ids is None:
            ids = array.array("I", (entry.id for entry in self))
            if all(ids[index] <= ids[index + 1] for index in range(len(ids) - 1)):
                self._ids = ids
            else:  # stable: of two entries with one id (a hostile image) the later wins, as a dict's would
                order = sorted(range(len(ids)), key=ids.__getitem__)
                self._ids, self._order = array.array("I", (ids[index] for index in order)), array.array("I", order)
        index = bisect.bisect_right(self._ids, key) - 1
        if index < 0 or self._ids[index] != key:
            return None
        return self[self._order[index] if self._order is not None else index]


def _batch_class(cls):
    """A message class ``{repeated cls entries = 1}`` (made once per entry type, in cls's pool)."""
    found = _PYCRIU.setdefault("batch", {}).get(cls)
    if found is None:
        descriptor_pb2, message_factory = _PYCRIU["descriptor_pb2"], _PYCRIU["message_factory"]
        desc = cls.DESCRIPTOR
        pool = desc.file.pool
        full = "forensic_checkpoint_batch.%s" % desc.full_name.replace(".", "_")
        try:
            batch = pool.FindMessageTypeByName(full)
        except KeyError:
            proto = descriptor_pb2.FileDescriptorProto(name="forensic_checkpoint_batch/%s.proto" % desc.full_name,
                                                       package="forensic_checkpoint_batch", dependency=[desc.file.name])
            message = proto.message_type.add(name=full.rsplit(".", 1)[1])
            message.field.add(name="entries", number=1, label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
                              type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE, type_name="." + desc.full_name)
            pool.AddSerializedFile(proto.SerializeToString())
            batch = pool.FindMessageTypeByName(full)
        # GetMessageClass arrived in protobuf 4.22 (and GetPrototype left in 5.x); the distributions'
        # pycriu runs on older ones too (Debian 12: 4.21)
        if hasattr(message_factory, "GetMessageClass"):
            found = message_factory.GetMessageClass(batch)
        else:
            found = message_factory.MessageFactory(pool).GetPrototype(batch)
        _PYCRIU["batch"][cls] = found
    return found


def _varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _batch(name, view, offset, cls, base=0):
    """Every entry from ``offset`` on, as one repeated field of one message: CRIU's framing (u32
    length, entry) becomes protobuf's (tag, varint length, entry) and one parse decodes them all
    into one arena. Per-entry messages cost about 1 KiB each (an arena apiece): a few MB of image
    listing 300k files took 370 MB. Entries are then Python objects only while someone holds them.
    Anything wrong is found again entry by entry, for the error naming the entry's offset."""
    framed, start, total, count = bytearray(), offset, len(view), 0
    while offset < total:
        if total - offset < 4:
            break
        size, = U32.unpack_from(view, offset)
        if size > total - offset - 4:
            break
        framed += b"\x0a" + _varint(size)
        framed += view[offset + 4:offset + 4 + size]
        offset += 4 + size
        count += 1
        if count > MAX_ENTRIES:
            raise ImageError(name, "more than %d entries" % MAX_ENTRIES)
    if offset == total:
        batch = _batch_class(cls)()
        try:
            batch.ParseFromString(bytes(framed))
            good = batch.IsInitialized() and len(batch.entries) == count
        except (_PYCRIU["DecodeError"], ValueError, TypeError, RuntimeError):
            good = False
        if good:
            return batch.entries
    del framed
    entries, offset = [], start  # the slow way, for its precise error (it raises on what failed above)
    while offset < total:
        msg, offset = _entry(name, view, offset, cls, base)
        entries.append(msg)
    return entries


def _entry(name, view, offset, cls, base=0):
    """(the message at ``offset`` of ``view``, the offset after it); errors name the offset in the
    image (``base``: where ``view`` starts in it)."""
    if len(view) - offset < 4:
        raise ImageError(name, "truncated entry header at offset %d" % (base + offset))
    size, = U32.unpack_from(view, offset)
    offset += 4
    if size > len(view) - offset:
        raise ImageError(name, "entry at offset %d claims %d bytes but only %d remain"
                         % (base + offset - 4, size, len(view) - offset))
    msg = cls()
    try:
        msg.ParseFromString(view[offset:offset + size].tobytes())
    except (_PYCRIU["DecodeError"], ValueError, TypeError) as exc:
        raise ImageError(name, "undecodable %s entry at offset %d (%s)" % (cls.__name__, base + offset - 4, exc))
    if not msg.IsInitialized():
        raise ImageError(name, "%s entry at offset %d lacks required fields %s"
                         % (cls.__name__, base + offset - 4, ", ".join(msg.FindInitializationErrors())))
    return msg, offset + size


def _decode_ghost(name, view, offset):
    """A ghost file: the entry, then either the raw bytes or (len, off) chunks of a sparse file."""
    entry, offset = _entry(name, view, offset, _PYCRIU["pb"].ghost_file_entry)
    if not getattr(entry, "chunks", False):
        return Image(name, "GHOST_FILE", [entry], [view[offset:]])
    chunks = []
    while offset < len(view):
        chunk, offset = _entry(name, view, offset, _PYCRIU["pb"].ghost_chunk_entry)
        if chunk.len > len(view) - offset:
            raise ImageError(name, "ghost chunk at file offset %d claims %d bytes but only %d remain"
                             % (chunk.off, chunk.len, len(view) - offset))
        chunks.append((chunk.off, view[offset:offset + chunk.len]))
        offset += chunk.len
    return Image(name, "GHOST_FILE", [entry], chunks)


def pagemap_pages(entry):
    """The page count of a pagemap entry, for CRIU before and after 4.2.

    CRIU 4.2 writes 0 in field 2 (now ``compat_nr_pages``) and the real count in uint64 field 5,
    which an older proto (such as pycriu 3.17's) keeps only as an unknown field.
    """
    count = entry.nr_pages
    if count:
        return count
    for field in _PYCRIU["UnknownFieldSet"](entry):
        if field.field_number == _PAGEMAP_NR_PAGES_FIELD:
            return field.data
    descriptor = entry.DESCRIPTOR.fields_by_number.get(_PAGEMAP_NR_PAGES_FIELD)
    if descriptor is not None:
        return getattr(entry, descriptor.name)
    return 0


def pagemap_flags(entry):
    """Flags of a pagemap entry; images without flags use ``in_parent`` or are present."""
    if entry.HasField("flags"):
        return entry.flags
    return names.PE_PARENT if entry.in_parent else names.PE_PRESENT


def load(archive, member, expect=None):
    """Decode ``member`` of an opened CheckpointArchive (ImageError names the member if missing)."""
    if not archive.has(member):
        raise ImageError(member, "missing from %s" % archive.path)
    # A plain tar's images are read in place, up to size_limit (an mm image of 540k VMAs is 17 MB),
    # as ImageSet reads them; a compressed archive's were kept up to its own limit.
    if getattr(archive, "compression", None) == "none":
        return decode(member, archive.read(member, limit=size_limit(member)), expect=expect)
    return decode(member, archive.read(member), expect=expect)
