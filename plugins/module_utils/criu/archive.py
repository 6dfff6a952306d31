# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only access to checkpoint archives: plain tar, gzip and zstd.

A plain tar is indexed by its headers alone (member data is never read until asked for, then by
offset). A compressed archive is decompressed once, streaming: small members are kept in memory,
large ones (memory pages, the rootfs diff) are handed to a ``visit`` callback as they go by. Its
tar headers are parsed here and member data is read straight from the decompressor into the
caller's buffers: tarfile's stream mode copies and allocates so much per read that it costs several
times the decompression itself.
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

from ansible_collections.forensic.checkpoint.plugins.module_utils import dependencies
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ArchiveError
from ansible_collections.forensic.checkpoint.plugins.module_utils.text import escape as printable

try:
    import zstandard

    HAS_ZSTANDARD = True
    ZSTANDARD_IMPORT_ERROR = None
except ImportError:
    HAS_ZSTANDARD = False
    ZSTANDARD_IMPORT_ERROR = traceback.format_exc()

# What a decompressor raises on bad input (zstandard.ZstdError is not an OSError).
_STREAM_ERRORS = (EOFError, OSError, zlib.error) + ((zstandard.ZstdError,) if HAS_ZSTANDARD else ())

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x04\x22\x4d\x18": "lz4"}

# Bounds that keep a hostile archive from exhausting memory.
MAX_MEMBERS = 200000
KEEP_MEMBER_LIMIT = 16 * 1024 * 1024
KEEP_TOTAL_LIMIT = 64 * 1024 * 1024  # with the decoded images (criu/imageset.py) under 200 MB RSS
STREAM_BUFSIZE = 1024 * 1024
EXTENDED_HEADER_LIMIT = 1024 * 1024

# Tar metadata read before a member (GNU long names, pax records, sparse maps) is capped here,
# before it is read: a 300 MiB long name in a 3 MB gzip must not cost 300 MiB.
SPARSE_MAP_BLOCKS = 2048


class BoundedTarInfo(tarfile.TarInfo):
    """tarfile's TarInfo with its metadata reads bounded: extended headers past
    EXTENDED_HEADER_LIMIT and truncated sparse maps are a corrupt header (one line), not an
    allocation of whatever the header claims or an IndexError. Sparse members are only ever
    listed, never read, so pax 1.0 sparse maps are not parsed at all."""

    # pylint: disable=arguments-renamed  # 'tarfile' would hide the module here

    def _check_extended(self):
        if not 0 <= self.size <= EXTENDED_HEADER_LIMIT:
            raise tarfile.SubsequentHeaderError("a %d-byte extended header (limit %d)"
                                                % (self.size, EXTENDED_HEADER_LIMIT))

    def _proc_gnulong(self, tarfile_):
        self._check_extended()
        return super(BoundedTarInfo, self)._proc_gnulong(tarfile_)

    def _proc_pax(self, tarfile_):
        self._check_extended()
        return super(BoundedTarInfo, self)._proc_pax(tarfile_)

    def _proc_sparse(self, tarfile_):
        structs, isextended, origsize = self._sparse_structs
        del self._sparse_structs
        for _block in range(SPARSE_MAP_BLOCKS):
            if not isextended:
                break
            buf = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            if len(buf) < tarfile.BLOCKSIZE:
                raise tarfile.SubsequentHeaderError("truncated sparse map")
            isextended = bool(buf[504])
        else:
            if isextended:
                raise tarfile.SubsequentHeaderError("a sparse map of more than %d blocks" % SPARSE_MAP_BLOCKS)
        self.sparse = structs  # the map beyond the header's 4 entries is skipped: never read
        self.offset_data = tarfile_.fileobj.tell()
        tarfile_.offset = self.offset_data + self._block(self.size)
        self.size = origsize
        return self

    def _proc_gnusparse_10(self, next_info, pax_headers, tarfile_):
        next_info.sparse = []


def open_tar(fileobj, stream=False):
    """tarfile over ``fileobj`` with BoundedTarInfo (``stream``: forward-only, mode 'r|')."""
    return tarfile.open(fileobj=fileobj, mode="r|" if stream else "r:", tarinfo=BoundedTarInfo)


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


is_pages_image = names.is_pages_image


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


class StreamMember(io.RawIOBase):
    """``visit``'s fileobj for a member of a compressed archive: its data, read forward only and
    straight from the decompressor. Valid during the visit only; what it leaves unread is skipped."""

    def __init__(self, tar, name, size):
        super(StreamMember, self).__init__()
        self._tar = tar
        self.name = name
        self.size = size
        self.position = 0

    def readable(self):
        return True

    def read(self, size=-1):
        left = self.size - self.position
        size = left if size is None or size < 0 else min(size, left)
        data = self._tar.read(size)
        self._advance(len(data), size)
        return data

    def readinto(self, buf):
        with memoryview(buf).cast("B") as view:
            want = min(len(view), self.size - self.position)
            self._advance(self._tar.readinto(view[:want]), want)
        return want

    def skip(self, size):
        """Pass over ``size`` bytes (fewer where the member ends)."""
        size = min(size, self.size - self.position)
        self._advance(self._tar.skip(size), size)

    def _advance(self, got, want):
        if got != want:
            raise self._tar.broken("truncated", "inside %s" % printable(self.name))
        self.position += got


class _TarStream(object):
    """The members of a decompressed tar stream, in order: exact reads, and one-line ArchiveErrors
    for whatever the decompressor or the headers get wrong."""

    def __init__(self, archive, stream):
        self._archive = archive
        self._stream = stream
        self._scratch = memoryview(bytearray(STREAM_BUFSIZE))

    def broken(self, problem, detail):
        """The ArchiveError for a ``problem`` (a key of _PROBLEMS) met at the current member."""
        archive = self._archive
        return ArchiveError(archive.path, "%s after %d members (%s)"
                            % (_PROBLEMS[problem] % archive.compression, archive.member_count, detail))

    def read(self, size):
        """``size`` bytes, fewer only where the stream ends."""
        try:
            data = self._stream.read(size) if size > 0 else b""
            while 0 < len(data) < size:
                more = self._stream.read(size - len(data))
                if not more:
                    break
                data += more
        except _STREAM_ERRORS as exc:
            raise self.broken(_stream_problem(exc), _reason(exc))
        return data

    def readinto(self, view):
        """Fills ``view``; fewer bytes only where the stream ends."""
        done = 0
        try:
            while done < len(view):
                got = self._stream.readinto(view[done:])
                if not got:
                    break
                done += got
        except _STREAM_ERRORS as exc:
            raise self.broken(_stream_problem(exc), _reason(exc))
        return done

    def skip(self, size):
        done = 0
        while done < size:
            got = self.readinto(self._scratch[:min(size - done, STREAM_BUFSIZE)])
            if not got:
                break
            done += got
        return done

    def drain(self):
        """Reads to the end, so that a corrupt tail is noticed (and hashed)."""
        while self.readinto(self._scratch):
            pass

    def _exact(self, size, what):
        data = self.read(size)
        if len(data) != size:
            raise self.broken("truncated", "inside %s" % what)
        return data

    def members(self):
        """(TarInfo, StreamMember) per member, GNU long names and pax records applied; the data
        left unread is skipped when the next member is asked for."""
        extended = {}
        while True:
            block = self.read(512)
            if not block.strip(b"\0"):
                return  # the end-of-archive block, or the end of the stream
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except tarfile.HeaderError as exc:
                cut = len(block) < 512 and self._archive.member_count
                raise self.broken("truncated" if cut else "tar", _reason(exc))
            try:
                if info.type in _EXTENDED_TYPES:
                    if not 0 <= info.size <= EXTENDED_HEADER_LIMIT:
                        raise ValueError("a %d-byte extended header" % info.size)
                    data = self._exact(info.size + (-info.size % 512), "an extended header")[:info.size]
                    if info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                        extended.update(_pax_records(data))
                    elif info.type != tarfile.XGLTYPE:  # global pax headers carry nothing engines write
                        extended[_EXTENDED_TYPES[info.type]] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                    continue
                _apply(info, extended)
            except ValueError as exc:
                raise self.broken("tar", exc)
            extended = {}
            if info.type == tarfile.GNUTYPE_SPARSE:
                more = block[482]  # old GNU sparse maps continue in blocks of their own
                while more:
                    more = self._exact(512, "a sparse header")[504]
            # Like tarfile: links, directories and devices carry no data whatever their size says.
            has_data = info.isreg() or info.type not in tarfile.SUPPORTED_TYPES
            data = StreamMember(self, info.name, info.size if has_data else 0)
            yield info, data
            data.skip(data.size)
            self.skip(-data.size % 512)  # a stream that ends in the padding ends the archive


def _pax_records(data):
    """{key: value} of a pax extended header ("<length> <key>=<value>\\n" records)."""
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 21)
        length = int(data[pos:space]) if space > pos and data[pos:space].isdigit() else 0
        if length <= space - pos or pos + length > len(data):
            raise ValueError("corrupt pax header")
        key, _eq, value = data[space + 1:pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _apply(info, extended):
    """Long names and pax records over the header's own fields, as tarfile applies them."""
    try:
        for key in _PAX_FIELDS.intersection(extended):
            setattr(info, key, tarfile.PAX_NUMBER_FIELDS.get(key, str)(extended[key]))
    except ValueError:
        raise ValueError("corrupt pax header")  # not the message, which quotes the value
    if info.size < 0:
        raise ValueError("member %s has a negative size" % printable(info.name))
    if info.type == tarfile.GNUTYPE_SPARSE or any(key.startswith("GNU.sparse.") for key in extended):
        info.sparse = []  # so that Member calls it sparse, as it would from tarfile
        info.name = extended.get("GNU.sparse.name", info.name)  # pax 1.0 sparse: the real name


_PROBLEMS = {"truncated": "truncated %s archive", "tar": "corrupt %s-compressed tar", "data": "corrupt %s data"}
_EXTENDED_TYPES = {tarfile.XHDTYPE: None, tarfile.SOLARIS_XHDTYPE: None, tarfile.XGLTYPE: None,
                   tarfile.GNUTYPE_LONGNAME: "path", tarfile.GNUTYPE_LONGLINK: "linkpath"}
_PAX_FIELDS = frozenset(("path", "linkpath", "size", "uid", "gid", "mtime"))


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


def _sha256_fd(fd):
    digest = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, 4 * STREAM_BUFSIZE, offset)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)
        offset += len(chunk)


def file_sha256(path):
    """The SHA-256 of an archive file, read read-only (for modules that do not index it themselves)."""
    fd, _st = _open_readonly(path)
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


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
        self.models = {}  # models built from this archive, made once (criu/tree.py)
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
        self._kept_total -= len(self._kept.pop(name, b""))  # the last copy wins, even when not kept
        return member

    def _index_plain(self, visit):
        raw = io.FileIO(self._fd, "rb", closefd=False)
        try:
            tf = open_tar(raw)
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
            raise dependencies.missing(self.path, "reading zstd archives", "zstandard")
        return zstandard.ZstdDecompressor().stream_reader(raw, read_size=STREAM_BUFSIZE, read_across_frames=True)

    def _index_stream(self, visit, checksum):
        raw = io.FileIO(self._fd, "rb", closefd=False)
        digest = hashlib.sha256() if checksum else None
        source = io.BufferedReader(_HashingReader(raw, digest), STREAM_BUFSIZE) if digest else raw
        tar = _TarStream(self, self._decompressor(source))
        for info, data in tar.members():
            member = self._add(info)
            if member is None or not member.is_file:
                continue
            fileobj = data
            if self._keep(member.name, member.size):
                self._hold(member, data.read())
                fileobj = io.BytesIO(self._kept[member.name])
            if visit is not None:
                visit(member, fileobj)
        tar.drain()  # so that a corrupt tail is noticed and the hash covers it all
        if not self.order:
            raise ArchiveError(self.path, "empty %s-compressed tar archive" % self.compression)
        if digest is not None:
            self.sha256 = digest.hexdigest()

    def _hold(self, member, data):
        self._kept_total += len(data)
        if self._kept_total > KEEP_TOTAL_LIMIT:
            raise ArchiveError(self.path, "the small members of this compressed archive exceed %d MiB; "
                               "decompress it to a plain tar first" % (KEEP_TOTAL_LIMIT >> 20))
        self._kept[member.name] = data

    def _hash_file(self):
        return _sha256_fd(self._fd)

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

    def regular(self, name):
        """The Member of a regular file, the only kind whose data is read: a sparse member's stored
        bytes are not its content (holes are left out), and links and devices have none."""
        member = self.member(name)
        if not member.is_file:
            raise ArchiveError(self.path, "member %s is a %s, not a regular file"
                               % (printable(name), member.kind))
        return member

    def open_member(self, name):
        """A file object for a regular member (seekable; for compressed archives only kept members)."""
        member = self.regular(name)
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

    def head(self, name, length):
        """The first ``length`` bytes of a regular member whatever its size (a log may be any size),
        or None when a compressed archive did not hold the member in memory."""
        member = self.regular(name)
        if self.compression == "none":
            return MemberReader(self._fd, member.offset, member.size).read_at(0, length)
        kept = self._kept.get(name)
        return kept[:length] if kept is not None else None

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


def _stream_problem(exc):
    if isinstance(exc, EOFError):
        return "truncated"
    if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile):
        return "tar"
    return "data"


CAPTURE_LIMIT = 64 * 1024 * 1024


def _merge(ranges):
    merged = []
    for offset, length in sorted(ranges):
        if merged and offset <= merged[-1][0] + merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], offset + length - merged[-1][0])
        else:
            merged.append([offset, length])
    return merged


class CapturedRanges(object):
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
        for offset, length in plan.get(member.name, ()):
            fileobj.skip(offset - fileobj.position)
            captured[member.name].append((offset, fileobj.read(length)))

    CheckpointArchive(archive.path, keep=lambda name, size: False, visit=visit).close()
    return dict((name, CapturedRanges(name, chunks)) for name, chunks in captured.items())
