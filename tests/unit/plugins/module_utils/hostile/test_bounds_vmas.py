# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16 (B): an mm image listing hundreds of thousands of VMAs (540k made memory describe
reach 982 MB; 450k measured 1.9 GB and 278 s through Ansible, a 338 MB result). checkpoint_memory
lists max_vmas a process, counts the rest in ``omitted.vmas`` and says so in a warning, through
``ansible -m``; a search still covers every VMA."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import hostile_archives as hostile
import hostile_bounds as hb
import hostile_round3 as h3


@pytest.fixture(scope="module")
def many(archives, tmp_path_factory):
    members = hostile.load_members(archives["counters"])
    return h3.many_vmas(str(tmp_path_factory.mktemp("vmas") / "vmas.tar"), members, 300000)


def test_describe_lists_max_vmas_and_counts_the_rest(many):
    before = hb.sha256(many)
    task, output, rss, secs = hb.run_module("checkpoint_memory", {"path": many, "max_vmas": 2000})
    assert not task.get("failed"), task.get("msg")
    first = task["processes"][0]
    assert len(first["vmas"]) == 2000 and task["omitted"]["vmas"] >= 300000 - 2000
    assert any("VMAs left out" in warning for warning in task["warnings"])
    assert rss <= hb.RSS_LIMIT_MB, rss
    assert secs < 120 and "Traceback" not in output and hb.sha256(many) == before


def test_search_still_covers_every_vma(many, archives):
    """The capped listing changes nothing a search finds (the counters archive's key is in memory)."""
    plain, _out, _rss, _secs = hb.run_module("checkpoint_memory", {"path": archives["counters"],
                                                                   "pattern": "RANDOM_1432_KEY"})
    task, _out, rss, _secs = hb.run_module("checkpoint_memory", {"path": many, "pattern": "RANDOM_1432_KEY",
                                                                 "max_vmas": 10})
    assert [m["address"] for m in task["matches"]] == [m["address"] for m in plain["matches"]] and task["matches"]
    assert rss <= hb.RSS_LIMIT_MB, rss
