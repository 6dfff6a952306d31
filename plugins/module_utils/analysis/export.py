# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing evidence out of an archive without letting the archive choose where it goes.

Names come from the evidence (an attacker's file names), so every path is treated as hostile:
``..`` and empty names are refused, and each directory below the export directory is created and
then opened with O_NOFOLLOW relative to its already-opened parent (openat), so no symlink planted
in the export directory, or raced in while we write, can lead outside it. Files are written as
0600 under a temporary name and renamed into place; an existing identical file is left alone, so
a second run reports no change.

Bounds: a few MiB of archive can declare gigabytes (a zero-filled file in the rootfs diff, a
sparse ghost file). All-zero blocks are written as holes (seeked over), so the disk holds what the
data holds, and the logical bytes of a whole run are capped by ``limit`` (DEFAULT_LIMIT): a file
that would pass it is refused and listed in ``skipped``, nothing half-written is left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import stat
import uuid

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Protected

FILE_MODE = 0o600
DIR_MODE = 0o700
CHUNK = 1024 * 1024
ZEROS = bytes(CHUNK)
DEFAULT_LIMIT = 1024 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class ExportError(CheckpointError):
    """The export directory itself cannot be used."""


class Refused(Exception):
    """One file is not exported (unsafe name, something else in the way); the export goes on."""


def components(relpath):
    """The safe path components of ``relpath``, or Refused."""
    parts = [part for part in relpath.split("/") if part not in ("", ".")]
    if not parts:
        raise Refused("empty path")
    for part in parts:
        if part == ".." or "\0" in part:
            raise Refused("unsafe path component %r" % part)
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise Refused("path component longer than 255 bytes")
    return parts


def read_chunks(fileobj):
    while True:
        chunk = fileobj.read(CHUNK)
        if not chunk:
            return
        yield chunk


class Exporter(object):
    """Exports files below ``root``; ``check_mode`` computes what would change and writes nothing.
    ``protect`` (the inputs) are never written: not inside an input directory, never over the input
    archive or a link to it (an exported name may be chosen by the attacker to match it)."""

    def __init__(self, root, check_mode=False, protect=(), limit=DEFAULT_LIMIT):
        self.root = os.path.realpath(root)
        self.protected = Protected(protect)
        problem = self.protected.directory_problem(self.root)
        if problem:
            raise ExportError(root, "export_dir " + problem)
        self.check_mode = check_mode
        self.limit = DEFAULT_LIMIT if limit is None else limit
        if self.limit < 0:
            raise ExportError("export_limit", "must not be negative (got %d)" % self.limit)
        self.budget = self.limit
        self.exported = []
        self.skipped = []
        self._used = set()
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise ExportError(root, "export_dir exists and is not a directory")
        if not os.path.isdir(self.root) and not check_mode:
            try:
                os.makedirs(self.root, DIR_MODE)
            except OSError as exc:
                raise ExportError(root, "cannot create export_dir (%s)" % (exc.strerror or exc))

    @property
    def changed(self):
        return any(item["changed"] for item in self.exported)

    def skip(self, kind, source, reason):
        self.skipped.append({"kind": kind, "source": source, "reason": reason})

    def unique(self, relpath, suffix):
        """``relpath``, or ``relpath`` + ``suffix`` if this run already exported that name."""
        if relpath in self._used:
            relpath += suffix
        self._used.add(relpath)
        return relpath

    def export(self, kind, source, relpath, chunks):
        """Write ``chunks`` (an iterable of bytes) to ``root/relpath``; returns the record or None if refused."""
        try:
            parts = components(relpath)
            record = self._write(parts, self._metered(chunks))
        except Refused as exc:
            self.skip(kind, source, str(exc))
            return None
        except OSError as exc:
            self.skip(kind, source, "cannot write (%s)" % (exc.strerror or exc))
            return None
        record.update({"kind": kind, "source": source})
        self.exported.append(record)
        return record

    def _metered(self, chunks):
        """``chunks``, counted against the run's budget; Refused (mid-file) when it runs out."""
        for chunk in chunks:
            self.budget -= len(chunk)
            if self.budget < 0:
                self.budget += len(chunk)
                raise Refused("the export limit of %d bytes for this run is reached (export_limit)" % self.limit)
            yield chunk

    def _write(self, parts, chunks):
        path = os.path.join(self.root, *parts)
        dir_fd = self._open_parents(parts[:-1])
        name = parts[-1]
        try:
            existing = self._existing_digest(dir_fd, name, path) if dir_fd is not None else None
            if self.check_mode or dir_fd is None:
                digest, size = _hash(chunks)
                return {"path": path, "size": size, "sha256": digest, "changed": digest != existing}
            temp = ".export-%s.tmp" % uuid.uuid4().hex
            digest, size = self._write_temp(dir_fd, temp, chunks)
            if digest == existing:
                os.unlink(temp, dir_fd=dir_fd)
                return {"path": path, "size": size, "sha256": digest, "changed": False}
            try:
                # rename replaces a symlink or file at ``name`` itself, never what a symlink points to.
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:
                os.unlink(temp, dir_fd=dir_fd)
                raise Refused("%s is in the way (%s)" % (path, exc.strerror or exc))
            return {"path": path, "size": size, "sha256": digest, "changed": True}
        finally:
            if dir_fd is not None:
                os.close(dir_fd)

    def _open_parents(self, parts):
        """An fd of root/parts..., creating directories (0700) as needed; None in check mode when
        the directory does not exist yet."""
        if not os.path.isdir(self.root):
            return None
        fd = os.open(self.root, _DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            for part in parts:
                if not self.check_mode:
                    try:
                        os.mkdir(part, DIR_MODE, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOENT and self.check_mode:
                        os.close(fd)
                        return None
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise Refused("%s is not a directory (symlink or file in the way)" % part)
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _existing_digest(self, dir_fd, name, path):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        problem = self.protected.file_problem(st, name, dir_fd)
        if problem:
            raise ExportError(path, problem)
        if stat.S_ISDIR(st.st_mode):
            raise Refused("a directory named %s is in the way" % name)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != FILE_MODE:
            return None  # replaced by the rename
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as handle:
            return _hash(read_chunks(handle))[0]

    @staticmethod
    def _write_temp(dir_fd, temp, chunks):
        fd = os.open(temp, _NEW_FILE_FLAGS, FILE_MODE, dir_fd=dir_fd)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # whatever the umask
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK):  # chunks come in any size
                        piece = chunk[start:start + CHUNK] if len(chunk) > CHUNK else chunk
                        if piece == ZEROS[:len(piece)]:
                            handle.seek(len(piece), os.SEEK_CUR)  # a hole: zeros cost no disk
                        else:
                            handle.write(piece)
                    digest.update(chunk)
                    size += len(chunk)
                handle.truncate(size)  # a file ending in a hole still has its full size
        except BaseException:
            os.unlink(temp, dir_fd=dir_fd)
            raise
        return digest.hexdigest(), size


def _hash(chunks):
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
