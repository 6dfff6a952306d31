# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only access to checkpoint archives: plain tar, gzip and zstd.

A plain tar is indexed by its headers alone (member data is never read until asked for, then by
offset). A compressed archive is decompressed once, streaming: small members are kept in memory,
large ones (memory pages, the rootfs diff) are handed to a ``visit`` callback as they go by.
Nothing is ever extracted to disk and the archive is opened O_RDONLY. Member names are only ever
used as keys here; this module never creates a file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import gzip
import hashlib
import io
import os
import posixpath
import stat
import tarfile
import traceback
import zlib

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import (
    ArchiveError,
    MissingDependency,
)

try:
    import zstandard

    HAS_ZSTANDARD = True
    ZSTANDARD_IMPORT_ERROR = None
except ImportError:
    HAS_ZSTANDARD = False
    ZSTANDARD_IMPORT_ERROR = traceback.format_exc()

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x04\x22\x4d\x18": "lz4"}

# Bounds that keep a hostile archive from exhausting memory.
MAX_MEMBERS = 200000
KEEP_MEMBER_LIMIT = 16 * 1024 * 1024
KEEP_TOTAL_LIMIT = 96 * 1024 * 1024
STREAM_BUFSIZE = 1024 * 1024

KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
}


def normalize_name(name):
    """The lookup key for a member name: no './', no '//'; None for a name that is absolute or
    climbs out with '..' (engines never write those: only an attacker does)."""
    if name.startswith("/") or ".." in name.split("/"):
        return None
    name = posixpath.normpath(name)
    return name if name != "." else ""


def printable(name):
    """A member name safe to show: undecodable bytes and control characters escaped."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else "\\x%02x" % ord(ch) for ch in text)


def is_pages_image(name):
    return name.startswith("checkpoint/pages-") and name.endswith(".img")


def default_keep(name, size):
    """Which members of a compressed archive to hold in memory: everything small but the page data."""
    return size <= KEEP_MEMBER_LIMIT and not is_pages_image(name) and name != "rootfs-diff.tar"


class Member(object):
    """One tar member: where it is and what it is (from its header only)."""

    __slots__ = ("name", "raw_name", "size", "mode", "kind", "linkname", "mtime", "offset", "uid", "gid")

    def __init__(self, info, name):
        self.name = name
        self.raw_name = info.name
        self.size = info.size
        self.mode = info.mode
        self.kind = "sparse" if info.issparse() else KINDS.get(info.type, "other")
        self.linkname = info.linkname
        self.mtime = info.mtime
        self.uid = info.uid
        self.gid = info.gid
        self.offset = None

    @property
    def is_file(self):
        return self.kind == "file"


class MemberReader(io.RawIOBase):
    """A seekable, read-only window onto one member of a plain tar, read with pread."""

    def __init__(self, fd, offset, size):
        super(MemberReader, self).__init__()
        self._fd = fd
        self._start = offset
        self._size = size
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buf):
        want = min(len(buf), self._size - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._start + self._pos)
        buf[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def read_at(self, offset, length):
        """Bytes at ``offset`` within the member, clipped to its end."""
        length = max(0, min(length, self._size - offset))
        return os.pread(self._fd, length, self._start + offset) if length else b""


class _HashingReader(io.RawIOBase):
    """Passes reads through while hashing them, so the sha256 costs no second read."""

    def __init__(self, raw, digest):
        super(_HashingReader, self).__init__()
        self._raw = raw
        self._digest = digest

    def readable(self):
        return True

    def readinto(self, buf):
        n = self._raw.readinto(buf)
        if n:
            self._digest.update(memoryview(buf)[:n])
        return n


def _open_readonly(path):
    # O_NONBLOCK so that a FIFO planted where an archive should be cannot hang us on open.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ArchiveError(path, exc.strerror.lower() if exc.strerror else str(exc))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ArchiveError(path, "not a regular file")
    os.set_blocking(fd, True)
    return fd, st


def sniff_compression(head):
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    for magic, name in OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    return "none"


class CheckpointArchive(object):
    """An indexed, read-only checkpoint archive.

    ``keep(name, size)`` chooses the members of a compressed archive held in memory;
    ``visit(member, fileobj)`` sees every regular member during the single indexing pass
    (for a plain tar ``fileobj`` is a seekable MemberReader).
    """

    def __init__(self, path, keep=default_keep, visit=None, checksum=False):
        self.path = path
        self.members = {}
        self.order = []
        self.member_count = 0
        self.duplicates = []
        self.warnings = []
        self.sha256 = None
        self._kept = {}
        self._kept_total = 0
        self._keep = keep
        self._fd, st = _open_readonly(path)
        self.size = st.st_size
        try:
            head = os.pread(self._fd, 6, 0)
            self.compression = sniff_compression(head)
            if self.compression not in ("none", "gzip", "zstd"):
                raise ArchiveError(path, "%s-compressed archives are not supported (use plain tar, gzip or zstd)"
                                   % self.compression)
            if self.compression == "none":
                self._index_plain(visit)
                if checksum:
                    self.sha256 = self._hash_file()
            else:
                self._index_stream(visit, checksum)
        except BaseException:
            self.close()
            raise

    # -- indexing -------------------------------------------------------------------------------

    def _add(self, info):
        self.member_count += 1
        if self.member_count > MAX_MEMBERS:
            raise ArchiveError(self.path, "more than %d members: refusing to index it" % MAX_MEMBERS)
        name = normalize_name(info.name)
        if name is None:
            self.warnings.append("member %s escapes the archive root; ignored" % printable(info.name))
            return None
        member = Member(info, name)
        if name in self.members:
            previous = self.members[name]
            if previous.size != member.size or previous.kind != member.kind:
                self.duplicates.append(name)
                self.warnings.append("member %s appears more than once with different contents; the last "
                                     "copy is used, as tar extraction would" % printable(name))
        else:
            self.order.append(name)
        self.members[name] = member
        return member

    def _index_plain(self, visit):
        raw = io.FileIO(self._fd, "rb", closefd=False)
        try:
            tf = tarfile.open(fileobj=raw, mode="r:")
        except (tarfile.TarError, EOFError) as exc:
            raise ArchiveError(self.path, "not a tar archive (%s)" % _reason(exc))
        try:
            while True:
                info = tf.next()
                if info is None:
                    break
                tf.members = []  # tarfile would otherwise keep every TarInfo
                member = self._add(info)
                if member is None:
                    continue
                member.offset = info.offset_data
                if member.is_file and info.offset_data + info.size > self.size:
                    raise ArchiveError(self.path, "truncated: member %s ends %d bytes past the end of the file"
                                       % (member.name, info.offset_data + info.size - self.size))
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise ArchiveError(self.path, "corrupt tar header after %d members (%s)" % (self.member_count, _reason(exc)))
        if not self.order:
            raise ArchiveError(self.path, "empty tar archive")
        if visit is not None:
            for name in self.order:
                member = self.members[name]
                if member.is_file:
                    visit(member, MemberReader(self._fd, member.offset, member.size))

    def _decompressor(self, raw):
        if self.compression == "gzip":
            return gzip.GzipFile(fileobj=raw, mode="rb")
        if not HAS_ZSTANDARD:
            raise MissingDependency(self.path, "reading zstd archives needs the Python package zstandard")
        return zstandard.ZstdDecompressor().stream_reader(raw, read_size=STREAM_BUFSIZE, read_across_frames=True)

    def _index_stream(self, visit, checksum):
        raw = io.FileIO(self._fd, "rb", closefd=False)
        digest = hashlib.sha256() if checksum else None
        source = io.BufferedReader(_HashingReader(raw, digest), STREAM_BUFSIZE) if digest else raw
        try:
            stream = self._decompressor(source)
            tf = tarfile.open(fileobj=stream, mode="r|", bufsize=STREAM_BUFSIZE)
            for info in tf:
                tf.members = []
                member = self._add(info)
                if member is None or not member.is_file:
                    continue
                fileobj = tf.extractfile(info)
                if self._keep(member.name, member.size):
                    self._hold(member, fileobj.read())
                    fileobj = io.BytesIO(self._kept[member.name])
                if visit is not None:
                    visit(member, fileobj)
            # Read to the end so a truncated or corrupt tail is noticed and the hash covers it all.
            while stream.read(STREAM_BUFSIZE):
                pass
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ArchiveError(self.path, "%s after %d members (%s)"
                               % (_stream_problem(exc, self.compression), self.member_count, _reason(exc)))
        except Exception as exc:  # zstandard.ZstdError is not an OSError
            if HAS_ZSTANDARD and isinstance(exc, zstandard.ZstdError):
                raise ArchiveError(self.path, "corrupt zstd data after %d members (%s)" % (self.member_count, exc))
            raise
        if not self.order:
            raise ArchiveError(self.path, "empty %s-compressed tar archive" % self.compression)
        if digest is not None:
            self.sha256 = digest.hexdigest()

    def _hold(self, member, data):
        if len(data) != member.size:
            raise ArchiveError(self.path, "truncated: member %s is short by %d bytes"
                               % (member.name, member.size - len(data)))
        self._kept_total += len(data) - len(self._kept.get(member.name, b""))
        if self._kept_total > KEEP_TOTAL_LIMIT:
            raise ArchiveError(self.path, "the small members of this compressed archive exceed %d MiB; "
                               "decompress it to a plain tar first" % (KEEP_TOTAL_LIMIT >> 20))
        self._kept[member.name] = data

    def _hash_file(self):
        digest = hashlib.sha256()
        offset = 0
        while True:
            chunk = os.pread(self._fd, 4 * STREAM_BUFSIZE, offset)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
            offset += len(chunk)

    # -- access ---------------------------------------------------------------------------------

    def has(self, name):
        return name in self.members

    def member(self, name):
        try:
            return self.members[name]
        except KeyError:
            raise ArchiveError(self.path, "no member %s" % name)

    def names(self, prefix=""):
        return [n for n in self.order if n.startswith(prefix)]

    def files(self, prefix=""):
        return [self.members[n] for n in self.order if n.startswith(prefix) and self.members[n].is_file]

    def open_member(self, name):
        """A file object for a regular member (seekable; for compressed archives only kept members)."""
        member = self.member(name)
        if not member.is_file:
            raise ArchiveError(self.path, "member %s is a %s, not a regular file" % (name, member.kind))
        if self.compression == "none":
            return MemberReader(self._fd, member.offset, member.size)
        if name not in self._kept:
            raise ArchiveError(self.path, "member %s (%d bytes) is not held in memory from this %s-compressed "
                               "archive; decompress the archive to a plain tar to read it"
                               % (name, member.size, self.compression))
        return io.BytesIO(self._kept[name])

    def read(self, name, limit=KEEP_MEMBER_LIMIT):
        """The whole content of a regular member, refused past ``limit`` bytes."""
        member = self.member(name)
        if member.is_file and member.size > limit:
            raise ArchiveError(self.path, "member %s is %d bytes, more than the %d this reader accepts"
                               % (name, member.size, limit))
        fileobj = self.open_member(name)
        if isinstance(fileobj, MemberReader):
            return fileobj.read_at(0, member.size)
        return fileobj.getvalue()

    def fileno(self):
        """The archive's read-only descriptor (for kernel-side copies such as copy_file_range)."""
        return self._fd

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _reason(exc):
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]


def _stream_problem(exc, compression):
    if isinstance(exc, EOFError) or "unexpected end" in str(exc) or "Compressed file ended" in str(exc):
        return "truncated %s archive" % compression
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return "corrupt %s data" % compression
    return "corrupt %s-compressed tar" % compression


CAPTURE_LIMIT = 64 * 1024 * 1024


def _merge(ranges):
    merged = []
    for offset, length in sorted(ranges):
        if merged and offset <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], offset + length - merged[-1][0])
        else:
            merged.append([offset, length])
    return merged


class _CapturedRanges(object):
    """pread-like access to byte ranges captured from a member while it streamed by."""

    def __init__(self, name, chunks):
        self._name = name
        self._chunks = sorted(chunks)
        self._starts = [start for start, _data in self._chunks]

    def __call__(self, offset, length):
        index = bisect.bisect_right(self._starts, offset) - 1
        if index >= 0:
            start, data = self._chunks[index]
            if offset + length <= start + len(data):
                return data[offset - start:offset - start + length]
        raise ArchiveError(self._name, "bytes %d-%d were not captured from the stream" % (offset, offset + length))


def range_readers(archive, wanted):
    """``{member: reader(offset, length)}`` for the byte ranges ``wanted[member]`` of large members.

    A plain tar is read in place; a compressed archive is streamed once more and only the wanted
    ranges are kept (bounded by CAPTURE_LIMIT).
    """
    if archive.compression == "none":
        return dict((name, archive.open_member(name).read_at) for name in wanted)
    plan = dict((name, _merge(ranges)) for name, ranges in wanted.items())
    if sum(length for ranges in plan.values() for _offset, length in ranges) > CAPTURE_LIMIT:
        raise ArchiveError(archive.path, "asked for more than %d MiB of a compressed archive's members; "
                           "decompress it to a plain tar first" % (CAPTURE_LIMIT >> 20))
    captured = dict((name, []) for name in plan)

    def visit(member, fileobj):
        position = 0
        for offset, length in plan.get(member.name, ()):
            while position < offset:
                skipped = len(fileobj.read(min(STREAM_BUFSIZE, offset - position)))
                if not skipped:
                    return
                position += skipped
            data = fileobj.read(length)
            captured[member.name].append((offset, data))
            position += len(data)

    CheckpointArchive(archive.path, keep=lambda name, size: False, visit=visit).close()
    return dict((name, _CapturedRanges(name, chunks)) for name, chunks in captured.items())
