# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Peak RSS and time of the worst hostile cases of issue 16 (half B), per module, each run through
Ansible (``ansible localhost -m forensic.checkpoint.<module> -vvv``): the peak is the largest RSS of
any process of the run (controller and module), read from RUSAGE_CHILDREN. The archives are built
here, from the fixtures, with the generators of the tests (tests/hostile_bounds.py). It fails
(exit 1) when a case passes 200 MB, a case that must fail does not fail with one line, or the
evidence archive changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, ".collections"))

import conftest  # noqa: E402  pylint: disable=wrong-import-position
import hostile_archives as hostile  # noqa: E402  pylint: disable=wrong-import-position
import hostile_bounds as hb  # noqa: E402  pylint: disable=wrong-import-position
import hostile_round3 as h3  # noqa: E402  pylint: disable=wrong-import-position


def cases(work, fixtures):
    """(module, case, args, must_fail) of the worst cases, archives built into ``work`` (must_fail None:
    a result or a one-line failure)."""
    members = hostile.load_members(fixtures["counters"])
    victim = [info.name for info, _data in members if info.name.startswith("checkpoint/pages-")][0]
    big = os.path.join(work, "long-name.tar.gz")
    hb.long_header_archive(big, members, tarfile.GNUTYPE_LONGNAME, 300 << 20, "gz")
    inner = os.path.join(work, "rootfs-long-name.tar.gz")
    hb.long_header_archive(inner, members, tarfile.XHDTYPE, 300 << 20, "gz", inner=True)
    sparse = hb.sparse_archive(os.path.join(work, "sparse-pages.tar"), members, victim, "oldgnu")
    zeros = hb.zero_file_archive(os.path.join(work, "zeros-2g.tar.gz"), members, 2 << 30, b"tail")
    ghost = hb.ghost_archive(os.path.join(work, "ghost-250m.tar.gz"), fixtures["lookup"],
                             {19: (250 << 20, [((250 << 20) - 1, b"x")])}, compression="gz")
    pstree = hb.replaced_images(os.path.join(work, "pstree-50k.tar"), members,
                                {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(50000))})
    deleted = hb.many_entries_rootfs(os.path.join(work, "deleted-800k.tar"), members, 20000, deleted_count=800000)
    vmas = h3.many_vmas(os.path.join(work, "vmas-450k.tar"), members, 450000)
    parent_pages = h3.in_parent_pagemap(os.path.join(work, "pagemap-1m.tar"), members, 1000000)
    pstree_100k = hb.replaced_images(os.path.join(work, "pstree-100k.tar"), members,
                                     {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(100000))})
    fds = h3.many_fds(os.path.join(work, "fds-300k.tar"), members, 300000)
    deleted_fds = h3.many_fds(os.path.join(work, "deleted-fds-300k.tar"), members, 300000,
                              name="/srv/cache/%d.bin (deleted)")
    shared = h3.shared_fd_table(os.path.join(work, "shared-fds-300x1000.tar"), members, 300, 1000)
    deleted_40m = hb.many_entries_rootfs(os.path.join(work, "deleted-40m.tar"), members, 1, deleted_count=440000,
                                         deleted_name="/var/lib/app/cache/%074d")
    inet = h3.many_inet_sockets(os.path.join(work, "inet-300k.tar"), members, 300000)
    unix = h3.many_unix_sockets(os.path.join(work, "unix-300k.tar"), members, 300000)
    shared_big = h3.shared_fd_table(os.path.join(work, "shared-fds-1000x4000.tar"), members, 1000, 4000)
    argv = h3.many_argv_env(os.path.join(work, "argv-env-50x2m.tar"), members, 50)
    threads = h3.many_threads(os.path.join(work, "threads-400k.tar"), members, 400000)
    bomb = hostile.write_tar(os.path.join(work, "spec-16m-values.tar"),
                             hostile.replace(members, "spec.dump", b"[" + b"{}," * (5 << 20) + b"{}]"), "zst")
    fds_sides = [h3.many_fds(os.path.join(work, "diff-fds-%s.tar" % side), members, count)
                 for side, count in (("before", 300000), ("after", 301500))]
    pid_sides = [h3.many_pids(os.path.join(work, "diff-pids-%s.tar" % side), members, pids, {})
                 for side, pids in (("before", range(1, 100001)), ("after", range(1501, 101501)))]
    pids_300k = hb.replaced_images(os.path.join(work, "pstree-300k.tar.zst"), members,
                                   {"checkpoint/pstree.img": ("PSTREE", hb.wide_pstree(300000))}, compression="zst")
    thread_ids = h3.pstree_thread_bomb(os.path.join(work, "thread-ids-5m.tar"), members, 5000000)
    cores = h3.many_pids(os.path.join(work, "cores-30k.tar"), members, range(1, 30001),
                         dict((pid, "w%d" % pid) for pid in range(1, 30001)))
    cores_after = os.path.join(work, "cores-30k-after.tar")
    shutil.copyfile(cores, cores_after)
    mounts = h3.many_mounts(os.path.join(work, "mounts-120k.tar.zst"), members, 120000, "zst")
    cored = h3.many_cored_processes(os.path.join(work, "cored-3000.tar"), members, 3000)
    out = os.path.join(work, "out")
    return [
        ("checkpoint_analyze", "pstree of 300k pids (zstd)", {"path": pids_300k}, False),
        ("checkpoint_memory", "pstree.img of 5M thread ids", {"path": thread_ids}, True),
        ("checkpoint_analyze", "30k processes, a core image each", {"path": cores}, False),
        ("checkpoint_memory", "30k processes, a core image each", {"path": cores}, False),
        ("checkpoint_diff", "30k processes a side, core images", {"before": cores, "after": cores_after}, False),
        ("checkpoint_analyze", "120k mounts (zstd)", {"path": mounts, "include": ["mounts"]}, False),
        ("checkpoint_coredump", "3000 processes on one pages image",
         {"path": cored, "dest": out + "4", "checksum": False, "max_bytes": 1 << 30}, False),
        ("checkpoint_analyze", "300k TCP sockets", {"path": inet}, False),
        ("checkpoint_analyze", "300k unix sockets", {"path": unix}, False),
        ("checkpoint_analyze", "1000 processes sharing 4000 fds", {"path": shared_big}, False),
        ("checkpoint_analyze", "50 processes x 2 MiB argv/environ", {"path": argv}, False),
        ("checkpoint_analyze", "pstree entry of 400k threads", {"path": threads}, False),
        ("checkpoint_info", "spec.dump of 5M JSON values (zstd)", {"path": bomb}, True),
        ("checkpoint_diff", "300k open files a side", {"before": fds_sides[0], "after": fds_sides[1]}, False),
        ("checkpoint_diff", "100k pids a side", {"before": pid_sides[0], "after": pid_sides[1]}, False),
        ("checkpoint_memory", "mm image of 450k VMAs", {"path": vmas}, False),
        ("checkpoint_analyze", "mm image of 450k VMAs", {"path": vmas}, False),
        ("checkpoint_memory", "pagemap of 1M in-parent entries", {"path": parent_pages}, False),
        ("checkpoint_analyze", "pagemap of 1M in-parent entries", {"path": parent_pages}, False),
        ("checkpoint_analyze", "pstree of 100k pids", {"path": pstree_100k}, False),
        ("checkpoint_analyze", "300k open files", {"path": fds}, False),
        ("checkpoint_analyze", "300k deleted files open", {"path": deleted_fds}, False),
        ("checkpoint_analyze", "300 processes sharing 1000 fds", {"path": shared, "max_files": 0}, False),
        ("checkpoint_analyze", "deleted.files of 40 MiB", {"path": deleted_40m, "include": ["rootfs"]}, False),
        ("checkpoint_info", "300 MiB GNU long name (gzip)", {"path": big}, True),
        ("checkpoint_analyze", "300 MiB pax header in rootfs-diff.tar", {"path": inner}, True),
        ("checkpoint_memory", "old-GNU sparse pages-N.img, 1 TiB", {"path": sparse, "strings": {}}, True),
        ("checkpoint_analyze", "2 GiB zero file exported (limit)",
         {"path": zeros, "export_dir": out + "1", "export": ["rootfs"]}, False),
        ("checkpoint_analyze", "2 GiB zero file exported (sparse)",
         {"path": zeros, "export_dir": out + "2", "export": ["rootfs"], "export_limit": 4 << 30}, False),
        ("checkpoint_analyze", "ghost 250 MiB declared, 1 byte", {"path": ghost, "export_dir": out + "3"}, False),
        ("checkpoint_analyze", "pstree of 50k pids", {"path": pstree, "include": ["processes"]}, False),
        ("checkpoint_analyze", "20k rootfs entries, 800k deleted", {"path": deleted, "include": ["rootfs"]}, False),
        ("checkpoint_memory", "hex 00, context 4096, 100k matches",
         {"path": fixtures["lookup"], "hex": "00", "context": 4096, "max_matches": 100000}, False),
        ("checkpoint_memory", "strings min 1, 1M strings",
         {"path": fixtures["lookup"], "strings": {"min_length": 1, "max_strings": 1000000}}, False),
        ("checkpoint_memory", "regex (?s).{1,65536}",
         {"path": fixtures["lookup"], "regex": "(?s).{1,65536}", "max_matches": 100000}, False),
        # hyperscan runs it in linear time (a result); without it re's time budget fails it in one line.
        ("checkpoint_memory", "backtracking regex (\\w+\\s?)+$",
         {"path": fixtures["lookup"], "regex": "(\\w+\\s?)+$"}, None),
    ]


def run():
    work = tempfile.mkdtemp(prefix="bench-hostile-")
    failed = []
    try:
        fixtures = conftest.restore_archives(work)
        print("%-20s %-40s %8s %8s  %s" % ("module", "case", "RSS MB", "seconds", "outcome"))
        for module, case, args, must_fail in cases(work, fixtures):
            inputs = [args[key] for key in ("path", "before", "after") if key in args]
            before = [hb.sha256(path) for path in inputs]
            task, output, rss, secs = hb.run_module(module, args, timeout=600)
            outcome = ("failed: " + task["msg"][:70]) if task.get("failed") else "ok"
            problems = []
            if rss > hb.RSS_LIMIT_MB:
                problems.append("RSS over %d MB" % hb.RSS_LIMIT_MB)
            failed_as_told = must_fail is None or must_fail == bool(task.get("failed"))
            if not failed_as_told or "\n" in task.get("msg", "") or "Traceback" in output:
                problems.append("not a one-line failure" if must_fail else "unexpected failure")
            if [hb.sha256(path) for path in inputs] != before:
                problems.append("EVIDENCE CHANGED")
            print("%-20s %-40s %8.0f %8.1f  %s%s" % (module, case, rss, secs, outcome,
                                                     "  <-- " + ", ".join(problems) if problems else ""), flush=True)
            if problems:
                failed.append(case)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("failed: %s" % "; ".join(failed))
        raise SystemExit(1)
