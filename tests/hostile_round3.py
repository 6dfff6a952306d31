# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, bounds still open after round two: a few MB of archive holding hundreds of thousands
of VMAs, in-parent pagemap entries or file descriptors. Built from a real fixture's members."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import tarfile

import hostile_archives as hostile
import hostile_bounds as hb

PAGE = 4096
LAST_PEER = "198.51.100.7"  # many_inet_sockets' last socket's peer, no other's


def _mm(members, pid):
    from pycriu.images import pb
    data = hostile.content(members, "checkpoint/mm-%d.img" % pid)
    entry = pb.mm_entry()
    entry.ParseFromString(data[12:])  # IMG_COMMON, magic, length: one mm_entry
    return entry


def many_vmas(dest, members, count, pid=1, base=0x100000000000):
    """pid's mm image with ``count`` more one-page anonymous VMAs (no pages dumped for them)."""
    entry = _mm(members, pid)
    template = entry.vmas[0]
    for index in range(count):
        vma = entry.vmas.add()
        vma.CopyFrom(template)
        vma.start, vma.end = base + 2 * index * PAGE, base + (2 * index + 1) * PAGE
        vma.pgoff, vma.shmid, vma.fd = 0, 0, -1
    return hb.replaced_images(dest, members, {"checkpoint/mm-%d.img" % pid: ("MM", [entry])})


def in_parent_pagemap(dest, members, count, pid=1, base=0x7ffe00000000):
    """pid's mm image with one VMA of ``count`` pages and a pagemap of ``count`` one-page entries
    each in the parent checkpoint (flag PE_PARENT), every other page: no pages image grows."""
    entry = _mm(members, pid)
    vma = entry.vmas.add()
    vma.CopyFrom(entry.vmas[0])
    vma.start, vma.end, vma.pgoff, vma.shmid, vma.fd = base, base + 2 * count * PAGE, 0, 0, -1
    name = "checkpoint/pagemap-%d.img" % pid
    old = hostile.content(members, name)
    extra = b"".join(_entry(hostile.pagemap_entry(base + 2 * index * PAGE, 1, flags=1)) for index in range(count))
    members = hostile.replace(members, name, old + extra)
    return hb.replaced_images(dest, members, {"checkpoint/mm-%d.img" % pid: ("MM", [entry])})


def _entry(raw):
    return struct.pack("<I", len(raw)) + raw


def with_many_fds(members, count, image="checkpoint/fdinfo-2.img", name=None):
    """``members`` with ``count`` more open files: as many regular files in files.img (each its own
    path, ``name`` % its index: /var/log/app/<index>.log unless told; a name ending in " (deleted)"
    is a file deleted while open, as the kernel names it) and fds in the fdinfo image ``image``
    (counters' pid 1 has fdinfo-2.img, its files_id)."""
    from pycriu.images import pb
    fds = hostile.content(members, image)
    files = hostile.content(members, "checkpoint/files.img")
    first = 1 << 20  # past the ids CRIU gave the real files
    extra_files, extra_fds = [], []
    for index in range(count):
        file_id = first + index
        extra_files.append(_entry(pb.file_entry(type=1, id=file_id, reg=pb.reg_file_entry(
            id=file_id, flags=0o2, pos=index, name=(name or "/var/log/app/%d.log") % index,
            fown=pb.fown_entry(uid=0, euid=0, signum=0, pid_type=0, pid=0))).SerializeToString()))
        extra_fds.append(_entry(pb.fdinfo_entry(id=file_id, flags=0, type=1, fd=3 + index).SerializeToString()))
    members = hostile.replace(members, image, fds + b"".join(extra_fds))
    return hostile.replace(members, "checkpoint/files.img", files + b"".join(extra_files))


def _many_sockets(dest, members, count, image, kind, entry):
    """``members`` with ``count`` more sockets of ``kind`` (UNIXSK, INETSK) open in the fd table
    ``image`` (fds from 3 on), written to ``dest``: ``entry(index, id, ino, fown, opts)`` gives socket
    ``index``'s (field of file_entry, socket entry); its file id is 1<<20 + index, its inode 1<<24 + index."""
    from pycriu.images import pb
    fds = hostile.content(members, image)
    files = hostile.content(members, "checkpoint/files.img")
    first, ino = 1 << 20, 1 << 24
    opts = pb.sk_opts_entry(so_sndbuf=212992, so_rcvbuf=212992, so_snd_tmo_sec=0, so_snd_tmo_usec=0,
                            so_rcv_tmo_sec=0, so_rcv_tmo_usec=0)
    fown = pb.fown_entry(uid=0, euid=0, signum=0, pid_type=0, pid=0)
    extra_files, extra_fds = [], []
    for index in range(count):
        field, sk = entry(index, first + index, ino + index, fown, opts)
        extra_files.append(_entry(pb.file_entry(type=pb.fd_types.Value(kind), id=first + index,
                                                **{field: sk}).SerializeToString()))
        extra_fds.append(_entry(pb.fdinfo_entry(id=first + index, flags=0, type=pb.fd_types.Value(kind),
                                                fd=3 + index).SerializeToString()))
    members = hostile.replace(members, image, fds + b"".join(extra_fds))
    members = hostile.replace(members, "checkpoint/files.img", files + b"".join(extra_files))
    return hb.write_pieces(dest, [hb._plain(members), b"\0" * 1024])  # pylint: disable=protected-access


def many_unix_sockets(dest, members, count, image="checkpoint/fdinfo-2.img"):
    """``members`` with ``count`` more connected unix stream sockets open in the fd table ``image``
    (fds from 3 on), written to ``dest``: socket ``index`` is bound to /run/app/<index>.sock, has
    inode 1<<24 + index and is connected to the socket before it (socket 0 to the last one)."""
    from pycriu.images import pb

    def entry(index, file_id, ino, fown, opts):
        return "usk", pb.unix_sk_entry(id=file_id, ino=ino, type=1, state=1, flags=2, uflags=0, backlog=0,
                                       peer=ino - index + (index - 1) % count, fown=fown, opts=opts,
                                       name=b"/run/app/%d.sock" % index)
    return _many_sockets(dest, members, count, image, "UNIXSK", entry)


def many_inet_sockets(dest, members, count, image="checkpoint/fdinfo-2.img", listening=10):
    """``members`` with ``count`` more IPv4 TCP sockets open in the fd table ``image`` (fds from 3
    on), written to ``dest``: the first ``listening`` listen on 0.0.0.0:<8000 + index>, the others
    are established from 10.0.0.1:<index % 50000 + 1024> to 192.0.2.<index % 250 + 1>:<index % 50000 + 5000>,
    but the last, to LAST_PEER:4444 (CRIU keeps an address as the kernel's 32-bit words, host
    order); inode 1<<24 + index."""
    import socket
    import struct
    from pycriu.images import pb

    def word(address):
        return struct.unpack("<I", socket.inet_aton(address))[0]

    def entry(index, file_id, ino, fown, opts):
        if index < listening:
            state, src, sport, dst, dport = 10, "0.0.0.0", 8000 + index, "0.0.0.0", 0
        else:
            state, src, sport = 1, "10.0.0.1", index % 50000 + 1024
            dst, dport = ("192.0.2.%d" % (index % 250 + 1), index % 50000 + 5000) if index < count - 1 else (LAST_PEER, 4444)
        return "isk", pb.inet_sk_entry(id=file_id, ino=ino, family=2, type=1, proto=6, state=state, src_port=sport,
                                       dst_port=dport, flags=2, backlog=128 if state == 10 else 0,
                                       src_addr=[word(src)], dst_addr=[word(dst)], fown=fown, opts=opts)
    return _many_sockets(dest, members, count, image, "INETSK", entry)


def many_fds(dest, members, count, image="checkpoint/fdinfo-2.img", name=None):
    """with_many_fds written to ``dest``."""
    return hb.write_pieces(dest, [hb._plain(with_many_fds(members, count, image, name)), b"\0" * 1024])  # pylint: disable=protected-access


def shared_fd_table(dest, members, processes, fds, files_id=2):
    """``processes`` processes (pid 1 and its children, wide_pstree) sharing pid 1's fd table of
    ``fds`` more open files, as processes cloned with CLONE_FILES do: each child's ids image names
    the table's files_id (CRIU dumps such a table once, fdinfo-<files_id>.img)."""
    from pycriu.images import pb
    members = with_many_fds(members, fds, "checkpoint/fdinfo-%d.img" % files_id)
    ids = hostile.content(members, "checkpoint/ids-1.img")
    own = pb.task_kobj_ids_entry()
    own.ParseFromString(ids[12:])  # IMG_COMMON, magic, length: one entry
    images = {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(processes))}
    for pid in range(2, processes + 1):
        entry = pb.task_kobj_ids_entry()
        entry.CopyFrom(own)
        images["checkpoint/ids-%d.img" % pid] = ("IDS", [entry])
    return hb.replaced_images(dest, members, images)


def many_argv_env(dest, members, processes, size=1 << 20, base=0x7e0000000000):
    """pid 1 and ``processes`` - 1 children, each with an mm image whose argv and environ blocks
    claim ``size`` bytes of one shared pages image of short strings."""
    import tarfile
    entry = _mm(members, 1)
    vma = entry.vmas.add()
    vma.CopyFrom(entry.vmas[0])
    vma.start, vma.end, vma.pgoff, vma.shmid, vma.fd = base, base + 2 * size, 0, 0, -1
    entry.mm_arg_start, entry.mm_arg_end = base, base + size
    entry.mm_env_start, entry.mm_env_end = base + size, base + 2 * size
    data = (b"ab\0" * (2 * size // 3 + 1))[:2 * size]
    images = {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(processes))}
    for pid in range(1, processes + 1):
        images["checkpoint/mm-%d.img" % pid] = ("MM", [entry])
    members = [(i, d) for i, d in members if i.name not in ("checkpoint/pagemap-1.img",)]
    raw = {"checkpoint/pages-999.img": data}
    for pid in range(1, processes + 1):
        raw["checkpoint/pagemap-%d.img" % pid] = hostile.pagemap(999, [(base, 2 * size // PAGE)])
    for name, body in raw.items():
        members.append((tarfile.TarInfo(name), body))
    return hb.replaced_images(dest, members, images, compression="zst")


def _flat_pstree(pids):
    """pstree entries of ``pids``, pid 1 the parent of the rest."""
    from pycriu.images import pb
    return [pb.pstree_entry(pid=pid, ppid=0 if pid == 1 else 1, pgid=1, sid=1) for pid in pids]


def many_pids(dest, members, pids, comms):
    """A tree of ``pids`` (pid 1 the parent of the rest) written to ``dest``, each pid in ``comms``
    ({pid: name}) with a core image (pid 1's, renamed) and the others with none (name unknown)."""
    from pycriu.images import pb
    core = pb.core_entry()
    core.ParseFromString(hostile.content(members, "checkpoint/core-1.img")[12:])  # IMG_COMMON, magic, length
    images = {"checkpoint/pstree.img": ("PSTREE", _flat_pstree(pids))}
    for pid, comm in comms.items():
        entry = pb.core_entry()
        entry.CopyFrom(core)
        entry.tc.comm = comm
        images["checkpoint/core-%d.img" % pid] = ("CORE", [entry])
    return hb.replaced_images(dest, members, images)


def many_threads(dest, members, count):
    """pid 1's pstree entry listing ``count`` more threads (tids from 1 << 20), zstd."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
    image = criu_images.decode("checkpoint/pstree.img", hostile.content(members, "checkpoint/pstree.img"))
    entries = list(image.entries)
    entries[0].threads.extend(range(1 << 20, (1 << 20) + count))
    return hb.replaced_images(dest, members, {"checkpoint/pstree.img": ("PSTREE", entries)}, compression="zst")


def pstree_thread_bomb(dest, members, count, compression=None):
    """pstree.img with pid 1 listing ``count`` more thread ids (tid 5 again and again: 2 bytes each,
    written raw, so that a 60 MB image costs the builder no decoded message), the fixture's other
    tasks after it."""
    old = hostile.content(members, "checkpoint/pstree.img")
    first, = struct.unpack_from("<I", old, 8)  # IMG_COMMON, PSTREE, then pid 1's entry
    data = old[:8] + _entry(old[12:12 + first] + b"\x28\x05" * count) + old[12 + first:]  # field 5 (threads), varint 5
    return hostile.write_tar(dest, hostile.replace(members, "checkpoint/pstree.img", data), compression)


def many_mounts(dest, members, count, compression=None):
    """The fixture's mount tree with ``count`` more mounts under its root (/m/<index>, each with
    only the fields CRIU requires: about 30 bytes)."""
    from pycriu.images import pb
    name = [info.name for info, _data in members if info.name.startswith("checkpoint/mountpoints-")][0]
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
    entries = list(criu_images.decode(name, hostile.content(members, name)).entries)
    root = entries[0].mnt_id
    entries += [pb.mnt_entry(fstype=1, mnt_id=1000000 + index, root_dev=1, parent_mnt_id=root, flags=0, root="/",
                             mountpoint="/m/%d" % index, source="", options="") for index in range(count)]
    return hb.replaced_images(dest, members, {name: ("MNTS", entries)}, compression=compression)


def many_cored_processes(dest, members, count):
    """pids 1..``count`` (pid 1 the parent of the rest), each a copy of pid 1: its core, mm and
    pagemap images, all naming pid 1's pages image (about 11 MB of memory each for 6 KB of archive)."""
    extra = []
    for kind in ("core", "mm", "pagemap"):
        data = hostile.content(members, "checkpoint/%s-1.img" % kind)
        for pid in range(2, count + 1):
            info = tarfile.TarInfo("checkpoint/%s-%d.img" % (kind, pid))
            info.size = len(data)
            extra.append((info, data))
    names = set(info.name for info, _data in extra)
    return hb.replaced_images(dest, [item for item in members if item[0].name not in names] + extra,
                              {"checkpoint/pstree.img": ("PSTREE", _flat_pstree(range(1, count + 1)))})
