# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): one process holding hundreds of thousands of open files (300k reached 429 MB in
checkpoint_analyze: files.img decoded whole, a record per fd, the findings' rows). The records are
made as they are read, the result lists max_files / max_total_files of them, and the findings
still judge every fd: the rules that filter open files read them all, a piece at a time; what a
rule did not see or a rule's findings past the cap are counted in ``omitted`` and said."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.findings import engine

DELETED = "/srv/cache/%d.bin (deleted)"  # how the kernel names a file unlinked while open


@pytest.fixture(scope="module")
def counters_members(archives):
    return hostile.load_members(archives["counters"])


@pytest.fixture(scope="module")
def own_fds(archives):
    """The open files the counters archive lists already (pid 1's fds, then cwd, root, exe)."""
    return analyze(archives["counters"], include=["processes", "files"])["processes"][0]["files"]


def _run(path, args=None):
    before = hb.sha256(path)
    task, output, rss, secs = hb.run_module("checkpoint_analyze", dict({"path": path}, **(args or {})), timeout=240)
    assert not task.get("failed"), task.get("msg")
    assert "Traceback" not in output and hb.sha256(path) == before
    assert rss <= hb.RSS_LIMIT_MB, rss
    return task["analysis"], task["warnings"], secs


def test_200k_fds_in_one_process_through_ansible(counters_members, own_fds, tmp_path):
    """max_files records listed, in fd order, the rest counted; stats count every fd. (300k, in
    make bench: 430 MB and 19.5 s before, 83 MB and 16 s after; 200k here keeps the test short.)"""
    count = 200000
    path = h3.many_fds(str(tmp_path / "fds.tar"), counters_members, count)
    analysis, warnings, secs = _run(path)
    files = analysis["processes"][0]["files"]
    described = [row for row in own_fds if isinstance(row["fd"], int)]
    assert len(files) == 1000 and files[:len(described)] == described
    assert files[len(described)]["path"] == "/var/log/app/0.log" and files[-1]["fd"] == 3 + 999 - len(described)
    assert analysis["omitted"]["files"] == count + len(own_fds) - 1000
    assert analysis["stats"]["open_files"] == count + len(described)
    assert any("%d open files left out" % analysis["omitted"]["files"] in warning for warning in warnings)
    assert secs < 90


def test_every_deleted_fd_is_judged_and_findings_are_capped(counters_members, own_fds, tmp_path):
    """100k deleted files open: stats count them all; the deleted-file rule reads every fd (its last
    one, far past max_total_files, is among what it matched) and lists RULE_FINDINGS findings, the
    rest counted in omitted.findings with a warning."""
    count = 100000
    path = h3.many_fds(str(tmp_path / "deleted.tar"), counters_members, count, name=DELETED)
    rule = {"id": "last-fd", "severity": "critical", "select": "open_files[?path=='/srv/cache/%d.bin']" % (count - 1),
            "subject": "{path}"}
    analysis, warnings, _secs = _run(path, {"max_total_files": 50, "rules": [rule]})
    assert analysis["stats"]["deleted_open_files"] == count
    deleted = [item for item in analysis["findings"] if item["id"] == "file.deleted-open"]
    assert len(deleted) == engine.RULE_FINDINGS and analysis["omitted"]["findings"] == count - engine.RULE_FINDINGS
    assert [item["subject"] for item in analysis["findings"] if item["id"] == "last-fd"] == ["/srv/cache/%d.bin" % (count - 1)]
    assert any("rule file.deleted-open: %d more matches" % (count - engine.RULE_FINDINGS) in w for w in warnings)
    assert sum(len(proc["files"]) for proc in analysis["processes"]) == 50


def test_a_rule_that_is_not_a_filter_sees_a_bounded_head(counters_members, own_fds, tmp_path):
    """A select that is not a filter or projection of open_files sees its first RULE_OPEN_FILES rows:
    the rest are counted (omitted.open_files) and a warning names the rule; a filter sees every row."""
    count = engine.RULE_OPEN_FILES + 500
    path = h3.many_fds(str(tmp_path / "head.tar"), counters_members, count)
    analysis = analyze(path, include=["processes", "files"])
    total = count + len(own_fds)
    rules = [{"id": "count", "severity": "low", "select": "[length(open_files)]", "subject": "{value}"},
             {"id": "last", "severity": "low", "select": "open_files[?pos==`%d`].path" % (count - 1)}]
    result = engine.evaluate(analysis, options={"rules": rules})
    subjects = dict((item["id"], item["subject"]) for item in result["findings"] if item["id"] in ("count", "last"))
    assert subjects == {"count": str(engine.RULE_OPEN_FILES), "last": "/var/log/app/%d.log" % (count - 1)}
    assert result["omitted"]["open_files"] == total - engine.RULE_OPEN_FILES
    assert any("rule count saw the first %d of %d open files" % (engine.RULE_OPEN_FILES, total) in warning
               for warning in result["warnings"])
