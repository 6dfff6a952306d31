# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing evidence out of an archive without letting the archive choose where it goes.

Names come from the evidence (an attacker's file names), so every path is treated as hostile:
``..`` and empty names are refused, and the directories below the export directory are made and
opened by output.Destination.subdirectory (openat, O_NOFOLLOW), so no symlink planted in the export
directory, or raced in while we write, can lead outside it. Files are written by the one writer,
output.Destination: 0600, under a temporary name renamed into place, all-zero blocks as holes; an
existing identical file is left alone, so a second run reports no change.

Bounds: a few MiB of archive can declare gigabytes (a zero-filled file in the rootfs diff, a
sparse ghost file). The disk holds what the data holds (holes), and the logical bytes of a whole
run are capped by ``limit`` (DEFAULT_LIMIT): a file that would pass it is refused and listed in
``skipped``, nothing half-written is left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.output import Destination, NotWritten

CHUNK = 1024 * 1024
DEFAULT_LIMIT = 1024 * 1024 * 1024


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
        self.limit = DEFAULT_LIMIT if limit is None else limit
        if self.limit < 0:
            raise ExportError("export_limit", "must not be negative (got %d)" % self.limit)
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise ExportError(root, "export_dir exists and is not a directory")
        try:
            self.destination = Destination(self.root, check_mode, create=True, protect=protect)
        except CheckpointError as exc:
            raise ExportError(root, "export_dir " + exc.problem)
        self.budget = self.limit
        self.exported = []
        self.skipped = []
        self._used = set()

    def close(self):
        self.destination.close()

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
            with self.destination.subdirectory(parts[:-1]) as directory:
                record = directory.write_chunks(parts[-1], self._metered(chunks))
        except Refused as exc:
            self.skip(kind, source, str(exc))
            return None
        except NotWritten as exc:
            self.skip(kind, source, str(exc))
            return None
        except CheckpointError as exc:  # an input in the way: evidence is never written over
            raise ExportError(exc.subject, exc.problem)
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
