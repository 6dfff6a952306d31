# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_analyze as a task with only ``path`` runs it: the analysis AND the findings pass
(on by default), issue 14's limits, each engine run in its own process (see common.py).

* counters.tar (12 MB, plain): engine time after imports <= 0.3 s (import time reported).
* bigmem (771 MiB of pages) as a plain tar: <= 1.5x `tar xOf ARCHIVE checkpoint/pages-1.img | grep -c`.
* bigmem as the zstd fixture: <= 1.5x `zstd -dc ARCHIVE | grep -c`.
* peak RSS <= 200 MB in every run.

Outputs are checked against baselines too: the pids analysed are those of the pagemap images
`tar tf` lists; and in a copy of each bigmem archive with a fake GitHub token planted in the
pages (one extra, untimed run each; one copy straddles a page boundary), the findings memory scan
counts as many occurrences of it as `grep -a -o` does.
The whole module (`ansible localhost -m forensic.checkpoint.checkpoint_analyze`) is timed next to
`ansible localhost -m ping`, and its findings must be the engine's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  pylint: disable=wrong-import-position
from common import NEEDLE, Stats, engine, module_process, shell  # noqa: E402  pylint: disable=wrong-import-position

PAGES = "checkpoint/pages-1.img"
TOKEN = b"ghp_" + b"Bench7oken0fFortyCharactersXyzQ12345"[:36]
PLANTS = (4096 * 1000 - 10, 4096 * 50000 + 123, 4096 * 150000 + 4000)


def _planted(source, dest, compress):
    """A copy of the plain tar ``source`` with TOKEN written over pages-1.img at PLANTS."""
    with tarfile.open(source) as tar:
        offset = tar.getmember(PAGES).offset_data
    subprocess.run(["cp", source, dest], check=True)
    with open(dest, "r+b") as handle:
        for spot in PLANTS:
            handle.seek(offset + spot)
            handle.write(TOKEN)
    if compress:
        subprocess.run(["zstd", "-q", "-1", "-T0", "--rm", dest, "-o", dest + ".zst"], check=True)
        return dest + ".zst"
    return dest


def _pids_in(path):
    _seconds, listing = shell("tar --force-local -tf '%s'" % path)
    return sorted(int(pid) for pid in re.findall(r"checkpoint/pagemap-(\d+)\.img", listing))


def _measure(limits, label, path, baseline_command, ratio_limit, planted, rounds):
    runs, baseline = [], []
    for _round in range(rounds):  # interleaved: load from elsewhere hits both alike
        baseline.append(shell(baseline_command)[0])
        runs.append(engine("analyze", path=path))
    mine, base = Stats(r["seconds"] for r in runs), Stats(baseline)
    imports = Stats(r["import"] for r in runs)
    print("%s: engine %s; import %s; baseline `%s` %s" % (label, mine, imports, baseline_command, base), flush=True)
    if ratio_limit is not None:
        limits.ratio("%s engine vs baseline" % label, mine, base, ratio_limit)
    limits.at_most("%s peak RSS" % label, max(r["rss_mb"] for r in runs), common.RSS_LIMIT_MB, "MB")
    summary = runs[0]["summary"]
    limits.agree("%s pids analysed = pagemap images listed by tar" % label, summary["pids"], _pids_in(path))
    limits.agree("%s rounds giving other findings than the first" % label,
                 sum(1 for r in runs if r["summary"] != summary), 0)
    print("%s: findings %s" % (label, ", ".join(summary["findings"]) or "none"))
    if planted:
        checked = engine("analyze", path=planted)["summary"]
        cat = "zstd -dc" if planted.endswith(".zst") else "cat"
        count = shell("%s %s | grep -a -o '%s' | wc -l" % (cat, planted, TOKEN.decode()))[1]
        limits.agree("%s, token planted: memory secret occurrences = `grep -a -o | wc -l`" % label,
                     checked["memory_occurrences"], int(count))
        limits.agree("%s, token planted: secret findings" % label, checked["findings"],
                     sorted(set(summary["findings"] + ["secret.github-token"])))
    return mine, summary


def _module(limits, label, path, summary, rounds):
    ping, module = [], []
    for _round in range(rounds):
        ping.append(module_process("ansible.builtin.ping", None)[0])
        seconds, result = module_process("checkpoint_analyze", {"path": path})
        module.append(seconds)
        limits.agree("%s module findings = engine findings" % label,
                     sorted(set(item["id"] for item in result["analysis"]["findings"])), summary["findings"])
    ping, module = Stats(ping), Stats(module)
    print("%s: whole module process %s; `ansible localhost -m ping` %s; the module's own cost %.2f s (medians)"
          % (label, module, ping, module.median - ping.median), flush=True)


def run():
    limits = common.Limits("bench_analyze")
    with tempfile.TemporaryDirectory() as where:
        counters = common.decompress(os.path.join(common.ARCHIVES, "counters.tar.zst"), os.path.join(where, "counters.tar"))
        mine, summary = _measure(limits, "counters.tar", counters, "tar xOf %s %s | grep -c -a RANDOM_1432_KEY"
                                 % (counters, PAGES), None, None, common.rounds(5))
        limits.at_most("counters.tar engine time after imports (median)", mine.median, 0.3, "s")
        _module(limits, "counters.tar", counters, summary, common.rounds(3))

        plain = common.decompress(os.path.join(common.ARCHIVES, "bigmem-768m.tar.zst"), os.path.join(where, "bigmem.tar"))
        planted = _planted(plain, os.path.join(where, "planted.tar"), False)
        _measure(limits, "bigmem plain tar", plain, "tar xOf %s %s | grep -c -a %s" % (plain, PAGES, NEEDLE), 1.5,
                 planted, common.rounds(3))
        os.unlink(planted)
        planted = _planted(plain, os.path.join(where, "planted.tar"), True)
        zstd = os.path.relpath(os.path.join(common.ARCHIVES, "bigmem-768m.tar.zst"), common.REPO)
        _mine, summary = _measure(limits, "bigmem zstd", zstd, "zstd -dc %s | grep -c -a %s" % (zstd, NEEDLE), 1.5,
                                  planted, common.rounds(3))
        _module(limits, "bigmem zstd", os.path.join(common.REPO, zstd), summary, 1)
    limits.finish()


if __name__ == "__main__":
    run()
