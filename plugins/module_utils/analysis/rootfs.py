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
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.metadata import load_json

MEMBER = "rootfs-diff.tar"
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


def deleted_files(archive, warnings):
    """Paths listed in deleted.files (absolute), or [] when the archive has none."""
    value = load_json(archive, "deleted.files")
    if value is None:
        return []
    if not isinstance(value, list):
        warnings.append("deleted.files is not a JSON list; ignored")
        return []
    paths = [path for path in value if isinstance(path, str)]
    if len(paths) != len(value):
        warnings.append("deleted.files: %d entries are not strings; ignored" % (len(value) - len(paths)))
    if len(paths) > MAX_ENTRIES:
        warnings.append("deleted.files lists %d paths: only the first %d are reported" % (len(paths), MAX_ENTRIES))
    return [container_path(path) for path in paths[:MAX_ENTRIES]]
