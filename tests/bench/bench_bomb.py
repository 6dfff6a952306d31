# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decompression bomb: 4 GiB of zero pages in a small zstd archive, fed to what the modules run by
default: checkpoint_analyze's analysis with the findings pass (which scans all memory), and a
checkpoint_memory search. Limits: peak RSS <= 200 MB (issues 10 and 14), within 30 s each
(issue 10). Baseline, timed in the same rounds: `zstd -dc ARCHIVE | wc -c`. Checked: the tar
listing shows the pages image holding the 4 GiB claimed, the analysis names the processes the
tar lists pagemaps for, the search finds no needle in zero pages. The whole checkpoint_analyze
module runs once on the bomb, next to `ansible localhost -m ping`, and must name the same pids.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]

import common  # noqa: E402  pylint: disable=wrong-import-position
import hostile_archives as hostile  # noqa: E402  pylint: disable=wrong-import-position
from common import NEEDLE, Stats, engine, module_process, shell  # noqa: E402  pylint: disable=wrong-import-position

BOMB = 4 << 30
FIXTURE = os.path.join(common.ARCHIVES, "worker-criu41.tar.gz")


def run():
    limits = common.Limits("bench_bomb")
    with tempfile.TemporaryDirectory() as where:
        path = os.path.join(where, "bomb.tar.zst")
        hostile.zero_page_bomb(path, hostile.load_members(FIXTURE), BOMB)
        print("bomb: %d MiB of zero pages in a %d KiB zstd archive" % (BOMB >> 20, os.path.getsize(path) >> 10))
        listing = shell("zstd -dc %s | tar -tvf -" % path)[1]
        pages = sum(int(line.split()[2]) for line in listing.splitlines() if re.search(r" checkpoint/pages-\d+\.img$", line))
        pids = sorted(int(pid) for pid in re.findall(r"checkpoint/pagemap-(\d+)\.img", listing))
        limits.agree("the bomb's pages image holds the zeros claimed", pages, BOMB)
        baseline, analyses, searches = [], [], []
        for _round in range(common.rounds(2)):
            baseline.append(shell("zstd -dc %s | wc -c" % path)[0])
            analyses.append(engine("analyze", path=path))
            # pid 1 holds the bomb; the other processes' pages image is left out of the archive.
            searches.append(engine("memory_search", path=path, pattern=NEEDLE, pid=1))
        base = Stats(baseline)
        print("bomb: baseline `zstd -dc | wc -c` %s" % base)
        for label, runs in (("checkpoint_analyze engine (findings on)", analyses), ("checkpoint_memory search", searches)):
            mine = Stats(r["seconds"] for r in runs)
            print("bomb: %s %s = %.2fx the baseline (medians)" % (label, mine, mine.median / base.median), flush=True)
            limits.at_most("bomb: %s time (median)" % label, mine.median, 30, "s")
            limits.at_most("bomb: %s peak RSS" % label, max(r["rss_mb"] for r in runs), common.RSS_LIMIT_MB, "MB")
        limits.agree("bomb: pids analysed = pagemaps listed", analyses[0]["summary"]["pids"], pids)
        limits.agree("bomb: needle matches in zero pages", [r["summary"]["matches"] for r in searches], [0] * len(searches))
        ping = module_process("ansible.builtin.ping", None)[0]
        seconds, result = module_process("checkpoint_analyze", {"path": path})
        limits.agree("bomb: the module's pids = the engine's", sorted(p["pid"] for p in result["analysis"]["processes"]), pids)
        print("bomb: whole checkpoint_analyze module process %.2f s; `ansible localhost -m ping` %.2f s" % (seconds, ping))
    limits.finish()


if __name__ == "__main__":
    run()
