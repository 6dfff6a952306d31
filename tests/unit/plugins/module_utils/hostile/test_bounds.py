# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (half A): each class's hostile input, run as a module in a child process: peak RSS
(VmHWM) at most 200 MB, the archive unchanged, and for the inputs that grow, time linear in size
(4x the input within 8x the time: the redaction pass and the escaping are per string)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shutil
import string

import pytest

import hostile_round2 as h2

LIMIT_MB = 200
B64 = string.ascii_letters + string.digits + "/+"


def _secret_names(archives, tmp_path, count, secret):
    """``count`` rootfs files and deleted names carrying the env secret, control characters and
    credential shapes."""
    files = dict(("tmp/d%d/index.html?k=%s&n=%d" % (i % 50, secret[i % 20:], i), b"x") for i in range(count))
    names = ["/tmp/\x1b[2J%d\n\u202e?password=%s" % (i, secret) for i in range(count)]
    return h2.build(archives["lookup"], str(tmp_path / ("names-%d.tar" % count)),
                    lambda members: h2.with_deleted(h2.with_rootfs(members, files), names))


def test_redaction_and_escaping_are_linear_and_bounded(archives, tmp_path):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the lookup archive's AWS_SECRET_ACCESS_KEY
    runs = {}
    for count in (2000, 8000):
        archive = _secret_names(archives, tmp_path, count, secret)
        before = h2.sha256(archive)
        result, peak, seconds = h2.measure("checkpoint_analyze", {"path": archive, "include": ["rootfs", "processes"],
                                                                  "report": str(tmp_path / ("r%d.html" % count))})
        assert not result.get("failed"), result.get("msg")
        with open(str(tmp_path / ("r%d.html" % count))) as handle:
            text = json.dumps(result) + handle.read()
        assert not h2.leaked(secret, text) and "\x1b" not in "".join(result.get("warnings", []))
        assert peak <= LIMIT_MB and h2.sha256(archive) == before
        runs[count] = seconds
        print("checkpoint_analyze, %d planted names: peak %d MB, %.1f s" % (count, peak, seconds))
    assert runs[8000] <= 8 * max(runs[2000], 0.5), runs


@pytest.mark.parametrize("case", ["report-over-archive", "deep-json", "deep-objects"])
def test_each_class_stays_under_the_memory_limit(archives, tmp_path, case):
    archive = str(tmp_path / "evidence.tar")
    if case == "report-over-archive":
        shutil.copy(archives["counters"], archive)
        args = {"path": archive, "report": archive}
    else:
        document = b"[" * 2000000 + b"]" * 2000000 if case == "deep-json" else b'{"a":' * 500000 + b"1" + b"}" * 500000
        h2.build(archives["lookup"], archive, lambda members: h2.with_json(members, "spec.dump", document))
        args = {"path": archive}
    before = h2.sha256(archive)
    result, peak, seconds = h2.measure("checkpoint_analyze", args)
    print("checkpoint_analyze, %s: peak %d MB, %.1f s" % (case, peak, seconds))
    assert h2.one_line(result, archive), result.get("msg")
    assert peak <= LIMIT_MB and h2.sha256(archive) == before
