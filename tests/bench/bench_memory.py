# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_memory's literal search over every process of the bigmem checkpoint, as a task with
only ``path`` and ``pattern`` runs it (documented defaults: context 32, max_matches 100).

Limits (issues 4 and 14), medians of rounds interleaved with the baselines: the plain tar within
1.2x `tar xOf ARCHIVE checkpoint/pages-1.img | grep -c -a NEEDLE`, the zstd fixture within 1.5x
`zstd -dc ARCHIVE | grep -c -a NEEDLE`, peak RSS <= 200 MB. The matches must be as many as
`grep -a -o NEEDLE | wc -l` counts in the pages. The whole module process is timed once next to
`ansible localhost -m ping`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  pylint: disable=wrong-import-position
from common import NEEDLE, Stats, engine, module_process, shell  # noqa: E402  pylint: disable=wrong-import-position

PAGES = "checkpoint/pages-1.img"


def run():
    limits = common.Limits("bench_memory")
    with tempfile.TemporaryDirectory() as where:
        plain = common.decompress(os.path.join(common.ARCHIVES, "bigmem-768m.tar.zst"), os.path.join(where, "bigmem.tar"))
        zstd = os.path.relpath(os.path.join(common.ARCHIVES, "bigmem-768m.tar.zst"), common.REPO)
        occurrences = int(shell("tar xOf %s %s | grep -a -o %s | wc -l" % (plain, PAGES, NEEDLE))[1])
        cases = (("plain", plain, "tar xOf %s %s | grep -c -a %s" % (plain, PAGES, NEEDLE), 1.2),
                 ("zstd", zstd, "zstd -dc %s | grep -c -a %s" % (zstd, NEEDLE), 1.5))
        for label, path, baseline_command, limit in cases:
            runs, baseline = [], []
            for _round in range(common.rounds(3)):
                baseline.append(shell(baseline_command)[0])
                runs.append(engine("memory_search", path=path, pattern=NEEDLE))
            mine, base = Stats(r["seconds"] for r in runs), Stats(baseline)
            print("memory search %s: engine %s; import %s; baseline `%s` %s" % (
                label, mine, Stats(r["import"] for r in runs), baseline_command.replace(where, "$TMP"), base), flush=True)
            limits.ratio("memory search %s" % label, mine, base, limit)
            limits.at_most("memory search %s peak RSS" % label, max(r["rss_mb"] for r in runs), common.RSS_LIMIT_MB, "MB")
            limits.agree("memory search %s matches = `grep -a -o | wc -l` in the pages" % label,
                         [r["summary"]["matches"] for r in runs], [occurrences] * len(runs))
        ping = module_process("ansible.builtin.ping", None)[0]
        seconds, result = module_process("checkpoint_memory", {"path": plain, "pattern": NEEDLE})
        limits.agree("memory search module matches = engine matches", [m["address"] for m in result["matches"]],
                     runs[-1]["summary"]["addresses"])
        print("memory search: whole module process %.2f s; `ansible localhost -m ping` %.2f s" % (seconds, ping))
    limits.finish()


if __name__ == "__main__":
    run()
