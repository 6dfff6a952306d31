# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile checkpoint archives, built from a real fixture as an attacker would.

Each builder takes the members of a real archive (name -> (TarInfo, bytes)) and writes a variant
to ``dest``. Tests feed them to every module: the answer must be a one-line error or a partial
result with warnings; never a traceback, never a file outside the destination.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import struct
import tarfile

import zstandard

IMG_COMMON = 0x54564319
PAGEMAP_MAGIC = 0x56084025


def load_members(path):
    """All members of a real archive, in order, with their contents (small fixtures only)."""
    members = []
    with tarfile.open(path) as tar:
        for info in tar:
            data = tar.extractfile(info).read() if info.isfile() else b""
            members.append((info, data))
    return members


def write_tar(dest, members, compression=None):
    """Write ``[(TarInfo, bytes)]`` as a tar (``compression``: None, 'gz' or 'zst')."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info = _copy(info)
            if info.isfile() or info.type == tarfile.AREGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    payload = raw.getvalue()
    if compression == "gz":
        payload = gzip.compress(payload)
    elif compression == "zst":
        payload = zstandard.ZstdCompressor().compress(payload)
    with open(dest, "wb") as handle:
        handle.write(payload)
    return dest


def _copy(info):
    clone = tarfile.TarInfo(info.name)
    for attr in ("size", "mode", "mtime", "type", "linkname", "uid", "gid", "uname", "gname", "devmajor", "devminor"):
        setattr(clone, attr, getattr(info, attr))
    return clone


def entry(name, data=b"", kind=tarfile.REGTYPE, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    info.size = len(data)
    return info, data


def replace(members, name, data):
    """The members with ``name``'s content replaced (the member must exist)."""
    out, found = [], False
    for info, content in members:
        if info.name.lstrip("./") == name:
            content, found = data, True
        out.append((info, content))
    if not found:
        raise KeyError(name)
    return out


def without(members, name):
    return [(i, d) for i, d in members if i.name.lstrip("./") != name]


def content(members, name):
    for info, data in members:
        if info.name.lstrip("./") == name:
            return data
    raise KeyError(name)


def image(magic, entries):
    """A CRIU image: IMG_COMMON, the type magic, then length-prefixed serialized entries."""
    body = b"".join(struct.pack("<I", len(e)) + e for e in entries)
    return struct.pack("<II", IMG_COMMON, magic) + body


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pagemap_entry(vaddr, nr_pages, flags=4, new_format=False):
    """A serialized pagemap_entry (field numbers from CRIU's pagemap.proto)."""
    fields = _varint((1 << 3) | 0) + _varint(vaddr)
    if new_format:  # CRIU 4.2: compat_nr_pages = 0 in field 2, the count in uint64 field 5
        fields += _varint((2 << 3) | 0) + _varint(0) + _varint((5 << 3) | 0) + _varint(nr_pages)
    else:
        fields += _varint((2 << 3) | 0) + _varint(nr_pages)
    return fields + _varint((4 << 3) | 0) + _varint(flags)


def pagemap(pages_id, runs):
    head = _varint((1 << 3) | 0) + _varint(pages_id)
    return image(PAGEMAP_MAGIC, [head] + [pagemap_entry(*run) for run in runs])


class ZeroReader(io.RawIOBase):
    """``size`` zero bytes, produced on demand (a decompression bomb's payload)."""

    def __init__(self, size):
        super(ZeroReader, self).__init__()
        self.left = size

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def zero_page_bomb(dest, base_members, size):
    """A zstd archive whose pages image is ``size`` zero bytes, with a pagemap claiming them all."""
    pages = size // 4096
    cctx = zstandard.ZstdCompressor(level=1)
    with open(dest, "wb") as handle, cctx.stream_writer(handle) as out:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            for info, data in base_members:
                name = info.name.lstrip("./")
                if name.startswith("checkpoint/pages-"):
                    continue
                if name == "checkpoint/pagemap-1.img":
                    data = pagemap(1, [(0x10000000, pages)])
                info = _copy(info)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
            bomb = tarfile.TarInfo("checkpoint/pages-1.img")
            bomb.size = pages * 4096
            tar.addfile(bomb, io.BufferedReader(ZeroReader(bomb.size), 1 << 20))
    return dest
