# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every benchmark shares, so each one tells the truth the same way.

* The engine runs in a child process (``engine``): imports are timed apart from the work, the
  work is what the module runs with its documented defaults (read from the module's
  DOCUMENTATION, so a new default is benchmarked the day it lands), and the child's peak RSS is
  its own (wait4's rusage).
* The whole module runs as Ansible runs it (``module_process``), next to ``ansible localhost -m
  ping`` timed in the same round, so Ansible's own start-up cost is visible.
* Baselines (``shell``) are timed in the same rounds, interleaved with the engine, so a burst of
  load from the four other users of the machine hits both; ``Stats`` gives median, min and max.
* ``Limits`` records every comparison and exits 1 when one was missed (tests/bench/run.py's rule);
  ``agree`` is a comparison of outputs: an engine that got faster by finding less fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import statistics
import subprocess
import sys
import time

import yaml
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, ".collections")
ARCHIVES = os.path.join(REPO, "tests", "fixtures", "archives")
MODULES = os.path.join(REPO, "plugins", "modules")
PYTHON = sys.executable
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")
NEEDLE = "NEEDLE-7f3a9c-END-OF-HEAP"
RSS_LIMIT_MB = 200


def rounds(default):
    """Rounds per measurement: BENCH_ROUNDS overrides (e.g. 1 for a quick look)."""
    return int(os.environ.get("BENCH_ROUNDS", default))


def decompress(source, dest):
    with open(source, "rb") as fin, open(dest, "wb") as fout:
        zstandard.ZstdDecompressor().copy_stream(fin, fout)
    return dest


def module_defaults(module):
    """{option: default} of a module's documented options (what a task without them gets)."""
    with open(os.path.join(MODULES, module + ".py")) as handle:
        source = handle.read()
    start = source.index('DOCUMENTATION = r"""') + len('DOCUMENTATION = r"""')
    doc = yaml.safe_load(source[start:source.index('"""', start)])
    return dict((name, spec["default"]) for name, spec in doc["options"].items() if "default" in spec)


class Stats(object):
    def __init__(self, values):
        self.values = list(values)
        self.median = statistics.median(self.values)
        self.min = min(self.values)
        self.max = max(self.values)

    def __str__(self):
        return "median %.3f s (min %.3f, max %.3f, n=%d)" % (self.median, self.min, self.max, len(self.values))


def shell(command):
    """(seconds, stdout stripped) of a shell pipeline."""
    started = time.monotonic()
    out = subprocess.run(command, shell=True, check=False, stdout=subprocess.PIPE).stdout
    return time.monotonic() - started, out.strip().decode()


# The child: import, then run one engine call; prints timings and a summary of the output as JSON.
# engines.<kind>(**args) prepares the task's parameters (untimed: Ansible hands them to the module
# ready) and returns the work to time, which returns the summary.
CHILD = r"""
import json, sys, time
started = time.monotonic()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import engines
imported = time.monotonic()
work = getattr(engines, sys.argv[3])(**json.loads(sys.argv[4]))
begun = time.monotonic()
summary = work()
done = time.monotonic()
print(json.dumps({"import": imported - started, "seconds": done - begun, "summary": summary}))
"""


def engine(kind, **args):
    """{"import", "seconds", "summary", "rss_mb"} of engines.<kind>(**args) in a child process."""
    child = subprocess.Popen([PYTHON, "-c", CHILD, COLLECTIONS, HERE, kind, json.dumps(args)],
                             stdout=subprocess.PIPE, cwd=REPO)
    out = child.stdout.read()
    child.stdout.close()
    _pid, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit("engine %s%r failed (status %d)" % (kind, args, status))
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["rss_mb"] = usage.ru_maxrss / 1024.0
    return result


def module_process(module, args):
    """(seconds, module result) of ``ansible localhost -m forensic.checkpoint.MODULE -a ARGS``."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    argv = [ANSIBLE, "localhost", "-m", module if "." in module else "forensic.checkpoint." + module]
    if args:
        argv += ["-a", json.dumps(args)]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    elapsed = time.monotonic() - started
    try:
        doc = json.loads(proc.stdout.decode()[proc.stdout.decode().index("{"):])
        result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise SystemExit("ansible -m %s failed (rc %d): %s" % (module, proc.returncode, proc.stderr.decode()[-2000:]))
    if result.get("failed"):
        raise SystemExit("ansible -m %s failed: %s" % (module, result.get("msg")))
    return elapsed, result


class Limits(object):
    """Every limit checked in a benchmark; ``finish`` exits 1 if one was missed."""

    def __init__(self, name):
        self.name = name
        self.missed = []

    def ratio(self, what, mine, baseline, limit):
        """``mine`` and ``baseline`` Stats; the medians' ratio against ``limit``."""
        ratio = mine.median / baseline.median
        self._verdict("%s: %.2fx the baseline (medians; limit %.1fx)" % (what, ratio, limit), ratio <= limit)

    def at_most(self, what, value, limit, unit):
        self._verdict("%s: %.3f %s (limit %g %s)" % (what, value, unit, limit, unit), value <= limit)

    def agree(self, what, mine, theirs):
        self._verdict("%s: engine %r, baseline %r" % (what, mine, theirs), mine == theirs, "agree", "DISAGREE")

    def _verdict(self, text, ok, good="ok", bad="MISSED"):
        print("  %-8s %s" % (good if ok else bad, text), flush=True)
        if not ok:
            self.missed.append(text)

    def finish(self):
        if self.missed:
            print("%s: %d limit(s) missed" % (self.name, len(self.missed)))
            raise SystemExit(1)
