# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decompression bomb: 4 GiB of zero pages in a small zstd archive (issue 10's bound: the analysis
finishes within 30 s with peak RSS under 200 MB). Baseline: `zstd -dc | wc -c` on the same file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), os.path.join(HERE, "..", "..", ".collections")]

import hostile_archives as hostile  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata  # noqa: E402  pylint: disable=wrong-import-position

BOMB = 4 << 30
FIXTURE = os.path.join(HERE, "..", "fixtures", "archives", "worker-criu41.tar.gz")


def _analyse(path):
    """The deepest analysis available: checkpoint_analyze's engine when present, else metadata."""
    try:
        from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import analyze as analysis  # pylint: disable=import-outside-toplevel
    except ImportError:
        analysis = None
    if analysis is not None and hasattr(analysis, "analyze"):
        try:
            analysis.analyze(path)
            return "checkpoint_analyze engine"
        except Exception as exc:  # a clean project error is an acceptable answer to a bomb
            return "checkpoint_analyze engine (refused: %s)" % str(exc).splitlines()[0][:80]
    metadata.inspect_path(path)
    return "checkpoint_info engine"


def run():
    with tempfile.TemporaryDirectory() as where:
        path = os.path.join(where, "bomb.tar.zst")
        hostile.zero_page_bomb(path, hostile.load_members(FIXTURE), BOMB)
        started = time.time()
        subprocess.run("zstd -dc %s | wc -c > /dev/null" % path, shell=True, check=True)
        baseline = time.time() - started
        started = time.time()
        what = _analyse(path)
        elapsed = time.time() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print("bomb: %d MiB of zero pages in a %d KiB zstd archive" % (BOMB >> 20, os.path.getsize(path) >> 10))
        print("bomb: %s %.2f s (limit 30 s), baseline zstd -dc|wc -c %.2f s, ratio %.2fx, peak RSS %.0f MB "
              "(limit 200)" % (what, elapsed, baseline, elapsed / baseline, rss))


if __name__ == "__main__":
    run()
