# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Core of the bigmem process (issue 9's bound: at most 2x the time `cp` takes to copy its pages
image, measured in the same run, with peak RSS under 200 MB). The core is on disk when the module
reports it (fsync before the rename: output.py, coredump/writer.py), which `cp` alone does not
wait for, so the baseline is `cp` followed by `sync` of the copy (coreutils' sync with a file
operand fsyncs that file); `cp` alone is printed too.

The zstd fixture is decompressed to a plain tar first (the form kubelet archives have) and
pages-1.img extracted once for the baseline. Writing the core (with its SHA-256, the module's
default, and without) and copying the pages alternate, so a burst of load from elsewhere on the
machine hits all alike; medians are compared and min/max printed. The core is written by a child
process so its peak RSS is its own. The SHA-256 the module reports must be `sha256sum`'s. The
whole module runs once (its default: checksum=true), next to `ansible localhost -m ping`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import tempfile
import time

import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTIONS = os.path.join(HERE, "..", "..", ".collections")
FIXTURE = os.path.join(HERE, "..", "fixtures", "archives", "bigmem-768m.tar.zst")
sys.path.insert(0, HERE)
import common  # noqa: E402  pylint: disable=wrong-import-position
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump import core as coredump
started = time.time()
cores, warnings = coredump.write_cores(sys.argv[2], sys.argv[3], overwrite=True, checksum=sys.argv[4] == "1")
print(json.dumps(dict(seconds=time.time() - started, cores=cores)))
"""


def _write_core(archive, dest, checksum):
    """(seconds inside the writer, peak RSS in MB, the core) from a child process."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, COLLECTIONS, archive, dest, "1" if checksum else "0"],
                             stdout=subprocess.PIPE)
    out = child.stdout.read()
    child.stdout.close()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = status
    if status:
        raise RuntimeError("writing the core failed (status %d)" % status)
    result = json.loads(out.decode())
    return result["seconds"], usage.ru_maxrss / 1024.0, result["cores"][0]


def _cp(source, target):
    """(seconds of `cp`, seconds of `cp` then `sync` of the copy)."""
    started = time.time()
    subprocess.run(["cp", source, target], check=True)
    copied = time.time() - started
    subprocess.run(["sync", target], check=True)
    synced = time.time() - started
    os.unlink(target)
    return copied, synced


def run():
    with tempfile.TemporaryDirectory() as where:
        archive = os.path.join(where, "bigmem.tar")
        with open(FIXTURE, "rb") as packed, open(archive, "wb") as plain:
            zstandard.ZstdDecompressor().copy_stream(packed, plain)
        subprocess.run(["tar", "-xf", archive, "-C", where, "checkpoint/pages-1.img"], check=True)
        pages = os.path.join(where, "checkpoint", "pages-1.img")
        dest = os.path.join(where, "cores")
        timings = {"cp": [], "cp+sync": [], "core": [], "core+sha256": []}
        rss = 0.0
        limits = common.Limits("bench_coredump")
        for _round in range(common.rounds(3)):
            copied, synced = _cp(pages, os.path.join(where, "copy.img"))
            timings["cp"].append(copied)
            timings["cp+sync"].append(synced)
            for label, checksum in (("core", False), ("core+sha256", True)):
                seconds, peak, core = _write_core(archive, dest, checksum)
                timings[label].append(seconds)
                rss = max(rss, peak)
                if checksum:
                    digest = common.shell("sha256sum '%s'" % core["path"])[1].split()[0]
                    limits.agree("the core's reported SHA-256 = sha256sum's", core["sha256"], digest)
                os.unlink(core["path"])
        stats = dict((label, common.Stats(values)) for label, values in timings.items())
        print("coredump: bigmem pid 1, pages image %d MiB, core %d MiB" % (os.path.getsize(pages) >> 20, core["size"] >> 20))
        for label in ("cp", "cp+sync", "core", "core+sha256"):
            print("coredump: %-12s %s" % (label, stats[label]))
        limits.ratio("writing the core vs cp+sync of pages-1.img", stats["core"], stats["cp+sync"], 2.0)
        limits.ratio("writing the core with its SHA-256 (checksum=true, the module's default) vs cp+sync",
                     stats["core+sha256"], stats["cp+sync"], 2.0)
        limits.at_most("coredump peak RSS", rss, common.RSS_LIMIT_MB, "MB")
        print("coredump: every round (s): %s" % json.dumps(dict((k, [round(v, 2) for v in vs]) for k, vs in timings.items())))
        ping = common.module_process("ansible.builtin.ping", None)[0]
        seconds, result = common.module_process("checkpoint_coredump", {"path": archive, "dest": dest, "pid": [1]})
        limits.agree("the module's core SHA-256 = the engine's", result["cores"][0]["sha256"], core["sha256"])
        print("coredump: whole module process %.2f s; `ansible localhost -m ping` %.2f s" % (seconds, ping))
        limits.finish()


if __name__ == "__main__":
    run()
