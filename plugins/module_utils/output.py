# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the modules write: one destination directory, files created 0600 and atomically.

A ``Destination`` holds its directory open (never through a symlink) and writes each file as a
private temporary file next to the target, renamed over it only when complete: a failure (a full
disk, say) leaves nothing half-written, and a symlink at the target is replaced, never followed.
Names are single path components, so nothing lands outside the directory; ``subdirectory`` opens
the directories below it one at a time (openat, O_NOFOLLOW), for names an archive chooses.
All-zero blocks are written as holes. Evidence is
untouchable: ``protect`` lists the inputs (archives, or directories of them); a target that is
one of them (the same inode: a hard link too) or lies inside one of those directories is refused
with one line. ``write`` knows "unchanged" by SHA-256 (and mode 0600) and, in check mode,
computes what would change without writing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import stat

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW
CHUNK = 1 << 20
_ZEROS = memoryview(bytes(CHUNK))


def _reason(exc):
    return (exc.strerror or str(exc)).lower()


class NotWritten(CheckpointError):
    """This one file was not written: something not a regular file holds its name, or writing it
    failed (a full disk); nothing of it is left. An input in the way is a plain CheckpointError."""


def _pwrite_all(fd, view, offset):
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class Protected(object):
    """The inputs of a run (``paths``: archives, or directories of them), which no output may be."""

    def __init__(self, paths=()):
        self.files, self.dirs = set(), []
        for item in paths:
            try:
                info = os.stat(item)
            except (OSError, TypeError, ValueError):
                continue
            if stat.S_ISDIR(info.st_mode):
                self.dirs.append(os.path.realpath(item))
            else:
                self.files.add((info.st_dev, info.st_ino))

    def directory_problem(self, path):
        """Why no output may go into the directory ``path`` (None: it may)."""
        real = os.path.realpath(path)
        for protected in self.dirs:
            if real == protected or real.startswith(protected.rstrip(os.sep) + os.sep):
                return "is inside the input directory %s: evidence is never written to" % protected
        return None

    def file_problem(self, info, name, dir_fd):
        """Why the existing entry ``name`` (its lstat ``info``) in ``dir_fd`` may not be an output:
        the input itself, a hard link to it (same inode) or a symlink to it."""
        if stat.S_ISLNK(info.st_mode):
            try:
                info = os.stat(name, dir_fd=dir_fd)
            except OSError:
                return None  # a dangling link: replaced by the rename
            if (info.st_dev, info.st_ino) in self.files:
                return "is a symbolic link to the input archive: evidence is never overwritten"
            return None
        if (info.st_dev, info.st_ino) in self.files:
            return "is the input archive (or a link to it): evidence is never overwritten"
        return None


class Destination(object):
    """The directory ``path`` (created 0700 when ``create`` and missing, unless in check mode).
    Errors name the file, after the module ``option`` that gave it when there is one."""

    def __init__(self, path, check_mode=False, create=False, protect=(), option=None, _opened=None):
        self.option = option
        self.path = os.path.abspath(path)
        self.check_mode = check_mode
        if _opened is not None:  # a subdirectory: (its descriptor or None, the parent's Protected)
            self.fd, self.protected = _opened
            return
        self.protected = Protected(protect)
        problem = self.protected.directory_problem(self.path)
        if problem:
            raise self.error(path, problem)
        if create and not os.path.lexists(self.path) and not check_mode:
            try:
                os.makedirs(self.path, 0o700)
            except OSError as exc:
                raise self.error(path, "cannot create the directory (%s)" % _reason(exc))
        self.fd = None
        if os.path.lexists(self.path) or not check_mode:
            try:
                self.fd = os.open(self.path, _DIRECTORY)
            except OSError as exc:
                raise self.error(path, "is not a usable directory (%s)" % _reason(exc))

    def error(self, path, problem, kind=CheckpointError):
        if self.option:
            return kind(self.option, "%s %s" % (path, problem))
        return kind(path, problem)

    def subdirectory(self, parts):
        """The Destination ``parts`` (names) below this one, each directory made 0700 as needed
        and opened relative to its parent without following a symlink, so that nothing planted or
        raced in on the way leads outside; in check mode one that does not exist yet has no
        descriptor (what would be written is only computed)."""
        fd = os.dup(self.fd) if self.fd is not None else None
        path = self.path
        try:
            for part in parts:
                self.check_name(part)
                path = os.path.join(path, part)
                if fd is None:
                    continue
                if not self.check_mode:
                    try:
                        os.mkdir(part, 0o700, dir_fd=fd)
                    except FileExistsError:
                        pass
                    except OSError as exc:
                        raise self.error(path, "cannot create the directory (%s)" % _reason(exc), NotWritten)
                try:
                    child = os.open(part, _DIRECTORY, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOENT and self.check_mode:
                        child = None
                    elif exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self.error(path, "is not a directory (a symlink or file is in the way)", NotWritten)
                    else:
                        raise self.error(path, "is not a usable directory (%s)" % _reason(exc), NotWritten)
                os.close(fd)
                fd = child
            opened = Destination(path, self.check_mode, option=self.option, _opened=(fd, self.protected))
            fd = None
            return opened
        finally:
            if fd is not None:
                os.close(fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def full(self, name):
        return os.path.join(self.path, name)

    def check_name(self, name):
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise self.error(self.full(name or ""), "not a file name inside %s" % self.path)

    def existing(self, name):
        """os.stat of the target, or None; refuses a target that is not a regular file or is an input."""
        self.check_name(name)
        if self.fd is None:
            return None
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        problem = self.protected.file_problem(info, name, self.fd)
        if problem:
            raise self.error(self.full(name), problem)
        if stat.S_ISLNK(info.st_mode):
            return None  # replaced by the rename, never followed
        if not stat.S_ISREG(info.st_mode):
            raise self.error(self.full(name), "exists and is not a regular file", NotWritten)
        return info

    def digest(self, name):
        """SHA-256 of the existing regular file ``name`` (None if there is none)."""
        if self.existing(name) is None:
            return None
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=self.fd)
        try:
            digest = hashlib.sha256()
            for data in iter(lambda: os.read(fd, CHUNK), b""):
                digest.update(data)
            return digest.hexdigest()
        finally:
            os.close(fd)

    def write(self, name, data):
        """``data`` (bytes) as ``name``: see write_chunks."""
        return self.write_chunks(name, (data,))

    def write_chunks(self, name, chunks):
        """``chunks`` (an iterable of bytes) as ``name``: ``{path, size, sha256, changed}``. A
        file already there with the same content (and mode 0600) is left alone; in check mode, or
        below a directory check mode would create, the content is only hashed. An exception from
        ``chunks`` (a budget running out, say) leaves nothing written."""
        info = self.existing(name)
        current = self.digest(name) if info is not None and (info.st_mode & 0o777) == 0o600 else None
        if self.check_mode or self.fd is None:
            digest, size = hashlib.sha256(), 0
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
            sha256 = digest.hexdigest()
        else:
            pending = self.new_file(name)
            try:
                sha256, size = pending.stream(chunks)
                if sha256 != current:
                    pending.commit()
            finally:
                pending.discard()
        return {"path": self.full(name), "size": size, "sha256": sha256, "changed": sha256 != current}

    def new_file(self, name, size=None):
        """A ``Pending`` file for ``name``: written at offsets (``size``: preallocated as a hole),
        renamed into place by ``commit``."""
        self.existing(name)
        if self.fd is None:
            raise self.error(self.path, "does not exist")
        return Pending(self, name, size)


class Pending(object):
    """A private temporary file in a Destination, renamed over its target by ``commit``. No fd is
    held between writes, so thousands of pending files (one per VMA) never exhaust descriptors."""

    def __init__(self, destination, name, size=None):
        self.destination, self.name = destination, name
        self.tmp = None
        for attempt in range(100):
            tmp = ".%s.%s.%d.tmp" % (name[:200], os.urandom(4).hex(), attempt)
            try:
                fd = os.open(tmp, _NEW_FILE, 0o600, dir_fd=destination.fd)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    continue
                raise destination.error(destination.full(name), "cannot create a file next to it (%s)" % _reason(exc),
                                        NotWritten)
            self.tmp = tmp
            break
        else:
            raise destination.error(destination.full(name), "could not create a temporary file next to it")
        try:
            os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask
            if size:
                os.ftruncate(fd, size)  # a hole: what is never written stays unallocated
        except OSError as exc:
            self.discard()
            raise destination.error(destination.full(name), "cannot write (%s)" % _reason(exc), NotWritten)
        finally:
            os.close(fd)

    def _open(self):
        return os.open(self.tmp, os.O_WRONLY | _NOFOLLOW, dir_fd=self.destination.fd)

    def _failed(self, exc):
        # a full disk, say: not to pass for a fault of the archive being read
        return self.destination.error(self.destination.full(self.name), "cannot write (%s)" % _reason(exc), NotWritten)

    def open_fd(self):
        """A descriptor on the temporary file, for a writer of its own (the caller closes it)."""
        try:
            return self._open()
        except OSError as exc:
            raise self._failed(exc)

    def pwrite(self, data, offset):
        try:
            fd = self._open()
            try:
                _pwrite_all(fd, memoryview(data), offset)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._failed(exc)

    def stream(self, chunks):
        """``chunks`` written from the start, all-zero blocks as holes (a 4 GiB zero file costs no
        disk): (sha256 hex, size)."""
        digest, offset = hashlib.sha256(), 0
        try:
            fd = self._open()
            try:
                for chunk in chunks:
                    digest.update(chunk)
                    view = memoryview(chunk)
                    for start in range(0, len(view), CHUNK):
                        piece = view[start:start + CHUNK]
                        if piece != _ZEROS[:len(piece)]:
                            _pwrite_all(fd, piece, offset)
                        offset += len(piece)
                os.ftruncate(fd, offset)  # a file ending in a hole still has its size
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._failed(exc)
        return digest.hexdigest(), offset

    def commit(self):
        """Rename into place (replacing a file or symlink there, never following it)."""
        self.destination.existing(self.name)  # still not an input, nor a directory
        try:
            fd = self._open()
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.name, src_dir_fd=self.destination.fd, dst_dir_fd=self.destination.fd)
        except OSError as exc:
            raise self._failed(exc)
        self.tmp = None

    def discard(self):
        if self.tmp is not None:
            try:
                os.unlink(self.tmp, dir_fd=self.destination.fd)
            except OSError:
                pass
            self.tmp = None
