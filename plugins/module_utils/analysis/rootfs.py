# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed in the container's file system: ``rootfs-diff.tar`` and ``deleted.files``.

The engines store the files the container added or modified (its overlay upper layer) as a tar
inside the archive, and the paths it deleted as a JSON list. The inner tar is listed from its
headers as the outer archive goes by (seeking over data in a plain tar, streaming through it in a
compressed one); nothing is extracted unless ``export`` asks for it, and then only regular files
that are not setuid/setgid are written, through export.Exporter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import itertools
import posixpath
import tarfile
import zlib

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import KINDS, open_tar
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ArchiveError
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.export import read_chunks
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.metadata import json_array_items

MEMBER = "rootfs-diff.tar"
DELETED = "deleted.files"
MAX_ENTRIES = 200000


def container_path(name):
    """The absolute path a tar member name stands for in the container ('./x', 'x//y' -> '/x/y'),
    never above '/'; undecodable bytes shown as backslash escapes."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return posixpath.normpath("/" + text).replace("//", "/")


def _iso(stamp):
    try:
        return datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def entry(info):
    """One ``rootfs.changed`` item from a TarInfo."""
    kind = "sparse" if info.issparse() else KINDS.get(info.type, "other")
    target = None
    if kind == "symlink":
        target = info.linkname.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    elif kind == "hardlink":
        target = container_path(info.linkname)
    return {
        "path": container_path(info.name),
        "type": kind,
        "size": info.size if kind in ("file", "sparse") else 0,
        "mode": "%04o" % (info.mode & 0o7777),
        "uid": info.uid,
        "gid": info.gid,
        "mtime": _iso(info.mtime),
        "link_target": target,
    }


def refusal(item):
    """Why a rootfs entry is not exported, or None when it is a plain regular file."""
    if item["type"] != "file":
        return "not a regular file (%s)" % item["type"]
    if int(item["mode"], 8) & 0o6000:
        return "setuid/setgid file"
    return None


class RootfsDiff(object):
    """Lists (and optionally exports) rootfs-diff.tar from CheckpointArchive's ``visit`` callback."""

    def __init__(self, archive_path, exporter=None):
        self.archive_path = archive_path
        self.exporter = exporter
        self.changed = None
        self.truncated = False
        # (limit, callback(info, head)): readers of each regular file's first bytes (the findings'
        # file scan), served from this one read of rootfs-diff.tar.
        self.file_hooks = []

    def visit(self, member, fileobj):
        if member.name != MEMBER:
            return
        self.changed = []
        try:
            tar = open_tar(fileobj, stream=not fileobj.seekable())
            while True:
                info = tar.next()
                if info is None:
                    break
                tar.members = []  # tarfile would otherwise keep every header
                if len(self.changed) >= MAX_ENTRIES:
                    self.truncated = True
                    break
                item = entry(info)
                self.changed.append(item)
                fileobj, head = None, b""
                if self.file_hooks and info.isfile():
                    fileobj = tar.extractfile(info)
                    head = fileobj.read(min(info.size, max(limit for limit, _hook in self.file_hooks)))
                    for limit, hook in self.file_hooks:
                        hook(info, head[:limit])
                if self.exporter is not None:
                    self._export(tar, info, item, head, fileobj)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise ArchiveError(self.archive_path, "%s is not a readable tar (%s)"
                               % (MEMBER, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))

    def _export(self, tar, info, item, head=b"", fileobj=None):
        reason = refusal(item)
        if reason:
            self.exporter.skip("rootfs", item["path"], reason)
            return
        if fileobj is None:
            chunks = read_chunks(tar.extractfile(info))
        else:  # its head already read for the hooks: the rest follows from the same stream
            chunks = itertools.chain([head] if head else [], read_chunks(fileobj))
        self.exporter.export("rootfs", item["path"], "rootfs" + item["path"], chunks)


class DeletedFiles(object):
    """deleted.files (a JSON list of paths) read from CheckpointArchive's ``visit`` callback as it
    goes by, streaming: the first ``limit`` paths kept (absolute), the rest only counted in
    ``omitted``, in memory and time that do not depend on how many it lists (a 1.2M-path list
    read whole cost 259 MB). ``paths`` stays None when the archive has no deleted.files."""

    def __init__(self, limit=MAX_ENTRIES):
        self.limit = limit
        self.paths = None
        self.omitted = 0
        self.warnings = []

    def visit(self, member, fileobj):
        if member.name != DELETED:
            return
        self.paths, self.omitted, self.warnings = [], 0, []  # the last copy of the member wins
        others = 0
        try:
            for path in json_array_items(fileobj):
                if not isinstance(path, str):
                    others += 1
                elif len(self.paths) < self.limit:
                    self.paths.append(container_path(path))
                else:
                    self.omitted += 1
        except ValueError as exc:
            kept = "the %d paths before it are reported" % len(self.paths) if self.paths else "ignored"
            self.warnings.append("%s: %s; %s" % (DELETED, exc, kept))
        if others:
            self.warnings.append("%s: %d entries are not strings; ignored" % (DELETED, others))
        if self.omitted:
            self.warnings.append("%s lists %d paths: only the first %d are reported"
                                 % (DELETED, len(self.paths) + self.omitted, self.limit))
