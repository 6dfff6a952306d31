# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: run every tests/bench/bench_*.py (or those named on the command line).

Each benchmark module exposes ``run()``, which prints its own lines (timings, ratios against
baselines measured in the same run, verdicts) and raises SystemExit(1) when it misses a limit.
Each runs in its own process so that its peak resident memory, read from wait4's rusage, is its
own. Exit status: 1 if any benchmark failed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = "import runpy, sys; runpy.run_path(sys.argv[1])['run']()"


def discover(names):
    found = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if names:
        found = [path for path in found if any(name in os.path.basename(path) for name in names)]
    return found


def run_one(path):
    """(exit status, wall seconds, peak RSS in MB) of one benchmark run in a child process."""
    started = time.time()
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], cwd=os.path.dirname(os.path.dirname(HERE)))
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.time() - started, usage.ru_maxrss / 1024.0


def main(argv):
    benches = discover(argv)
    if not benches:
        print("no benchmarks found in %s" % HERE)
        return 1
    failed = []
    for path in benches:
        name = os.path.basename(path)[:-3]
        print("==> %s" % name, flush=True)
        code, elapsed, rss = run_one(path)
        verdict = "ok" if code == 0 else "FAILED (exit %d)" % code
        print("<== %s: %s in %.1f s, peak RSS %.0f MB" % (name, verdict, elapsed, rss), flush=True)
        if code:
            failed.append(name)
    if failed:
        print("failed: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
