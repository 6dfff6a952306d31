# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_memory's literal search over every process of the bigmem checkpoint (issue 4).

Limits, as ratios to baselines timed in the same run (best of three each, interleaved, because
the machine is shared): the decompressed plain tar within 1.2x of
`tar xOf ARCHIVE checkpoint/pages-1.img | grep -c -a PATTERN`; the zstd archive within 1.5x of
`zstd -dc ARCHIVE | grep -c -a PATTERN`; peak resident memory under 200 MB.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", ".collections")]

import zstandard  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.forensic.checkpoint.plugins.module_utils.memory import queries as memory_queries  # noqa: E402  pylint: disable=wrong-import-position

ARCHIVE = os.path.relpath(os.path.join(HERE, "..", "fixtures", "archives", "bigmem-768m.tar.zst"))
NEEDLE = "NEEDLE-7f3a9c-END-OF-HEAP"
ROUNDS = 3
LIMITS = {"plain": 1.2, "zstd": 1.5}
RSS_LIMIT_MB = 200


def _timed(work, *args):
    started = time.time()
    result = work(*args)
    return time.time() - started, result


def _shell(command):
    return subprocess.run(command, shell=True, check=False, stdout=subprocess.PIPE).stdout.strip().decode()


def _search(path):
    return len(memory_queries.run({"path": path, "pattern": NEEDLE, "context": 32, "max_matches": 1000})["matches"])


def run():
    ok = True
    with tempfile.TemporaryDirectory() as where:
        plain = os.path.join(where, "bigmem.tar")
        with open(ARCHIVE, "rb") as fin, open(plain, "wb") as fout:
            zstandard.ZstdDecompressor().copy_stream(fin, fout)
        cases = (
            ("plain", "tar xOf %s checkpoint/pages-1.img | grep -c -a %s" % (plain, NEEDLE), plain),
            ("zstd", "zstd -dc %s | grep -c -a %s" % (ARCHIVE, NEEDLE), ARCHIVE),
        )
        for name, baseline_command, path in cases:
            baseline, mine = [], []
            for _round in range(ROUNDS):
                seconds, lines = _timed(_shell, baseline_command)
                baseline.append(seconds)
                seconds, matches = _timed(_search, path)
                mine.append(seconds)
            ratio = min(mine) / min(baseline)
            verdict = "ok" if ratio <= LIMITS[name] else "OVER THE LIMIT"
            ok = ok and ratio <= LIMITS[name]
            print("memory search %-5s: %.2f s for %d matches; baseline `%s` %.2f s (%s lines); ratio %.2fx "
                  "(limit %.1fx) %s" % (name, min(mine), matches, baseline_command.replace(where, "$TMP"), min(baseline),
                                        lines, ratio, LIMITS[name], verdict), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("memory search peak RSS: %.0f MB (limit %d MB) %s" % (rss, RSS_LIMIT_MB, "ok" if rss < RSS_LIMIT_MB else "OVER THE LIMIT"))
    if not ok or rss >= RSS_LIMIT_MB:
        raise SystemExit(1)


if __name__ == "__main__":
    run()
