# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, half B: archives whose few megabytes claim gigabytes (tar metadata, sparse members),
and the tools to run a module or an engine in a child process and measure its peak RSS and time."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zlib

import zstandard

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RSS_LIMIT_MB = 200


def _header(name, size, kind, fmt=tarfile.GNU_FORMAT, pax=None):
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mode = size, kind, 0o644
    if pax:
        info.pax_headers = pax
    return info.tobuf(fmt, "utf-8", "surrogateescape")


def _pad(size):
    return b"\0" * (-size % 512)


def _plain(members):
    raw = io.BytesIO()
    tar = tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT)
    for info, data in members:
        clone = tarfile.TarInfo(info.name)
        for attr in ("mode", "mtime", "type", "linkname", "uid", "gid"):
            setattr(clone, attr, getattr(info, attr))
        clone.size = len(data) if info.isfile() else 0
        tar.addfile(clone, io.BytesIO(data) if info.isfile() else None)
    return raw.getvalue()  # taken before close(): no end-of-archive blocks, more members follow


def write_pieces(dest, pieces, compression=None):
    """Write an iterable of byte strings (or ``("zeros", n)``) as one file, compressed as asked,
    streaming, so that a stream claiming 300 MiB costs no 300 MiB here."""
    comp = {"gz": zlib.compressobj(9, zlib.DEFLATED, 31), "zst": zstandard.ZstdCompressor(level=3).compressobj(),
            None: None}[compression]
    zeros = b"\0" * (1 << 20)
    with open(dest, "wb") as out:
        def put(data):
            out.write(comp.compress(data) if comp else data)
        for piece in pieces:
            if isinstance(piece, tuple):
                left = piece[1]
                while left > 0:
                    if comp is None:  # plain: a hole, the file system keeps it sparse
                        out.seek(left, os.SEEK_CUR)
                        out.truncate()
                        break
                    put(zeros[:min(left, len(zeros))])
                    left -= len(zeros)
            else:
                put(piece)
        if comp:
            out.write(comp.flush())
    return dest


def long_header_archive(dest, members, kind, claimed, compression=None, inner=False):
    """``members`` (name -> (TarInfo, bytes) pairs of a real archive) with an extended header of
    ``kind`` (GNU long name 'L', long link 'K', pax 'x' or global pax 'g') claiming ``claimed``
    bytes (zeros follow) before the first member, or, with ``inner``, inside rootfs-diff.tar."""
    hostile = [_header("././@LongLink", claimed, kind), ("zeros", claimed + (-claimed % 512)),
               _header("evil", 0, tarfile.REGTYPE)]
    if not inner:
        return write_pieces(dest, hostile + [_plain(members), b"\0" * 1024], compression)
    inner_size = sum(len(p) if not isinstance(p, tuple) else p[1] for p in hostile) + 1024
    pieces = [_plain([m for m in members if m[0].name != "rootfs-diff.tar"]),
              _header("rootfs-diff.tar", inner_size, tarfile.REGTYPE)] + hostile + [b"\0" * 1024, _pad(inner_size),
                                                                                    b"\0" * 1024]
    return write_pieces(dest, pieces, compression)


def zero_file_archive(dest, members, size, tail=b"", compression="gz", name="var/tmp/zeros.bin"):
    """``members`` with a rootfs-diff.tar holding one file of ``size`` zero bytes then ``tail``."""
    total = size + len(tail)
    inner = [_header(name, total, tarfile.REGTYPE), ("zeros", size), tail, _pad(total), b"\0" * 1024]
    inner_size = 512 + total + (-total % 512) + 1024
    pieces = [_plain([m for m in members if m[0].name != "rootfs-diff.tar"]),
              _header("rootfs-diff.tar", inner_size, tarfile.REGTYPE)] + inner + [_pad(inner_size), b"\0" * 1024]
    return write_pieces(dest, pieces, compression)


def _old_gnu_sparse(name, stored, realsize):
    """An old-GNU sparse header ('S'): one data run of ``stored`` bytes at the end of ``realsize``."""
    buf = bytearray(_header(name, stored, tarfile.GNUTYPE_SPARSE))
    buf[386:398] = tarfile.itn(realsize - stored, 12, tarfile.GNU_FORMAT)  # base-256 past 8 GiB
    buf[398:410] = tarfile.itn(stored, 12, tarfile.GNU_FORMAT)
    buf[482] = 0
    buf[483:495] = tarfile.itn(realsize, 12, tarfile.GNU_FORMAT)
    buf[148:156] = b"        "
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


SPARSE_FORMATS = ("oldgnu", "pax0.0", "pax0.1", "pax1.0")


def sparse_archive(dest, members, victim, fmt, realsize=1 << 40, compression=None):
    """``members`` with ``victim`` stored as a sparse member of format ``fmt`` (SPARSE_FORMATS):
    its real bytes as the one data run at the end of ``realsize`` declared bytes."""
    out = []
    for info, data in members:
        if info.name != victim:
            out.append(_plain([(info, data)]))
            continue
        offset = realsize - len(data)
        if fmt == "oldgnu":
            out += [_old_gnu_sparse(info.name, len(data), realsize), data, _pad(len(data))]
            continue
        pax = {"GNU.sparse.realsize": str(realsize), "GNU.sparse.size": str(realsize)}
        body = data
        if fmt == "pax0.0":
            pax.update({"GNU.sparse.numblocks": "1", "GNU.sparse.offset": str(offset),
                        "GNU.sparse.numbytes": str(len(data))})
        elif fmt == "pax0.1":
            pax.update({"GNU.sparse.numblocks": "1", "GNU.sparse.map": "%d,%d" % (offset, len(data))})
        else:
            pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": info.name,
                   "GNU.sparse.realsize": str(realsize)}
            table = b"1\n%d\n%d\n" % (offset, len(data))
            body = table + _pad(len(table)) + data
        out += [_header("GNUSparseFile.0/" + info.name.rsplit("/", 1)[-1] if fmt == "pax1.0" else info.name,
                        len(body), tarfile.REGTYPE, tarfile.PAX_FORMAT, pax), body, _pad(len(body))]
    return write_pieces(dest, out + [b"\0" * 1024], compression)


def sha256(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def measure(code, timeout=120):
    """Run python ``code`` (which prints one JSON value) in a child; returns (value, peak RSS MB, seconds)."""
    script = textwrap.dedent(code) + textwrap.dedent("""
        import json as _json, sys as _sys
        for _line in open("/proc/self/status"):
            if _line.startswith("VmHWM:"):
                _sys.stderr.write("VMHWM %d\\n" % int(_line.split()[1]))
        """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, ".collections"), os.path.join(REPO, "tests")]))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    elapsed = time.monotonic() - start
    hwm = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("VMHWM ")]
    assert done.returncode == 0 and hwm, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), hwm[0] / 1024.0, elapsed


def run_module(module, args, timeout=300, check=False):
    """``ansible localhost -m forensic.checkpoint.<module> -vvv`` (with ``--check`` if ``check``): (task
    result, whole output, peak RSS MB of the children, seconds)."""
    import resource
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1")
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    code = ("import resource, subprocess, sys, json\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)\n"
            "sys.stderr.write('MAXRSS %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    start = time.monotonic()
    # A session of its own, so that a timeout ends the whole run (ansible and the module), not
    # only the wrapper.
    child = subprocess.Popen([sys.executable, "-c", code, ansible, "localhost", "-vvv"] + ["--check"] * check +
                             ["-m", "forensic.checkpoint." + module, "-a", json.dumps(args)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise AssertionError("%s did not finish in %d s" % (module, timeout))
    elapsed = time.monotonic() - start
    del resource
    rss = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("MAXRSS ")][0] / 1024.0
    start_json = stdout.find("{\n")
    stats = json.loads(stdout[start_json:])
    task = stats["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return task, stdout + stderr, rss, elapsed


def run_bounded(module, args, paths, check=False):
    """run_module, asserting what every hostile run must hold: no traceback, the inputs ``paths``
    unchanged, RSS within RSS_LIMIT_MB. (task result, seconds)."""
    sums = [sha256(path) for path in paths]
    task, output, rss, secs = run_module(module, args, timeout=240, check=check)
    assert "Traceback" not in output and [sha256(path) for path in paths] == sums
    assert rss <= RSS_LIMIT_MB, (module, rss)
    return task, secs


def ghost_archive(dest, source_gz, ghosts, compression=None):
    """The gzip archive ``source_gz`` (lookup-compromised) rewritten with ``ghosts``: {orig file
    id: (declared size or None, [(offset, bytes)] chunks, or bytes for a whole-file ghost)}, each
    a GHOST remap in remap-fpath.img (entries built with pycriu's messages, as CRIU writes them)."""
    import struct
    from pycriu.images import magic, pb

    def img(kind, entries, tail=b""):
        return struct.pack("<II", magic.by_name["IMG_COMMON"], magic.by_name[kind]) + b"".join(
            struct.pack("<I", len(e)) + e for e in entries) + tail

    ghost_type = pb.remap_file_path_entry.DESCRIPTOR.fields_by_name["remap_type"].enum_type.values_by_name["GHOST"]
    remaps, extra = [], {}
    for index, (orig, (size, body)) in enumerate(sorted(ghosts.items()), 1):
        remaps.append(pb.remap_file_path_entry(orig_id=orig, remap_id=index, remap_type=ghost_type.number)
                      .SerializeToString())
        entry = pb.ghost_file_entry(uid=0, gid=0, mode=0o100644)
        if isinstance(body, bytes):
            extra["checkpoint/ghost-file-%x.img" % index] = img("GHOST_FILE", [entry.SerializeToString()], body)
            continue
        entry.chunks, entry.size = True, size
        extra["checkpoint/ghost-file-%x.img" % index] = img("GHOST_FILE", [entry.SerializeToString()]) + b"".join(
            struct.pack("<I", len(c)) + c + data for c, data in
            ((pb.ghost_chunk_entry(len=len(data), off=off).SerializeToString(), data) for off, data in body))
    extra["checkpoint/remap-fpath.img"] = img("REMAP_FPATH", remaps)
    members = []
    with gzip.open(source_gz) as raw, tarfile.open(fileobj=raw, mode="r|") as tin:
        for info in tin:
            members.append((info, tin.extractfile(info).read() if info.isfile() else b""))
    members = [(info, extra.pop(info.name, data)) for info, data in members]
    for name, data in sorted(extra.items()):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        members.append((info, data))
    return write_pieces(dest, [_plain(members), b"\0" * 1024], compression)


def replaced_images(dest, members, images, compression=None):
    """``members`` with CRIU images replaced or added: {member name: (magic name, [pb messages])}."""
    import struct
    from pycriu.images import magic

    def img(kind, entries):
        out = [struct.pack("<II", magic.by_name["IMG_COMMON"], magic.by_name[kind])]
        for entry in entries:
            raw = entry.SerializeToString()
            out.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(out)

    data = dict((name, img(kind, entries)) for name, (kind, entries) in images.items())
    out = [(info, data.pop(info.name, body)) for info, body in members]
    for name, body in sorted(data.items()):
        info = tarfile.TarInfo(name)
        info.size = len(body)
        out.append((info, body))
    return write_pieces(dest, [_plain(out), b"\0" * 1024], compression)


def wide_pstree(count):
    """``count`` processes: pid 1 and its children, each of them a CRIU pstree_entry."""
    from pycriu.images import pb
    return [pb.pstree_entry(pid=1, ppid=0, pgid=1, sid=1)] + [
        pb.pstree_entry(pid=pid, ppid=1 + (pid % 7 == 0) * (pid - 1), pgid=1, sid=1) for pid in range(2, count + 1)]


def many_entries_rootfs(dest, members, count, compression=None, deleted_count=None, deleted_name="/var/gone/%d"):
    """``members`` with a rootfs-diff.tar of ``count`` empty files and ``deleted_count`` (default:
    as many) deleted paths, each ``deleted_name`` % its index."""
    import json as json_mod
    inner = io.BytesIO()
    tar = tarfile.open(fileobj=inner, mode="w", format=tarfile.GNU_FORMAT)
    for index in range(count):
        tar.addfile(tarfile.TarInfo("srv/d%d/f%d" % (index % 97, index)))
    tar.close()
    deleted = json_mod.dumps([deleted_name % index for index in range(count if deleted_count is None else deleted_count)]).encode()
    out = [(info, data) for info, data in members if info.name not in ("rootfs-diff.tar", "deleted.files")]
    for name, body in (("rootfs-diff.tar", inner.getvalue()), ("deleted.files", deleted)):
        info = tarfile.TarInfo(name)
        info.size = len(body)
        out.append((info, body))
    return write_pieces(dest, [_plain(out), b"\0" * 1024], compression)
