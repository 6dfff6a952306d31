# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Targets and memory searches as users give them, in the modules' shape (targets/targets.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.targets import targets


def test_no_targets_gives_an_empty_list():
    assert targets.normalise([], {"namespace": "", "pod": "x"}) == []
    assert targets.normalise(None, None) == []


def test_single_target_from_survey_strings():
    single = {"namespace": "demo", "pod": "", "label_selectors": "app=counters", "containers": " counter, sidecar ,,"}
    assert targets.normalise([], single) == [
        {"namespace": "demo", "pod": "", "label_selectors": ["app=counters"], "containers": ["counter", "sidecar"]}]


def test_list_wins_over_single_and_keeps_several_containers_per_pod():
    got = targets.normalise([{"namespace": "a", "pod": "p", "containers": ["c1", "c2", "c3"]},
                             {"namespace": "b", "label_selectors": ["x=1", "y=2"]}], {"namespace": "ignored", "pod": "q"})
    assert [t["containers"] for t in got] == [["c1", "c2", "c3"], []]
    assert got[1]["label_selectors"] == ["x=1", "y=2"] and got[1]["pod"] == ""


@pytest.mark.parametrize("bad, words", [
    ({"pod": "p"}, "target 1 (/p): needs a namespace"),
    ({"namespace": "demo"}, "target 1 (demo/): needs a namespace and a pod or label_selectors"),
    ("demo/pod", "target 1: 'demo/pod' is not a dict"),
])
def test_bad_target_is_one_line_naming_it(bad, words):
    with pytest.raises(CheckpointError) as err:
        targets.normalise([bad])
    assert str(err.value).startswith(words) and "\n" not in str(err.value)


def test_hostile_names_pass_through_unchanged_for_the_api_to_judge():
    evil = {"namespace": "demo", "pod": "../../etc/passwd\n$(reboot)", "containers": "a;b"}
    (got,) = targets.normalise([evil])
    assert got["pod"] == evil["pod"] and got["containers"] == ["a;b"]
    assert targets.label(got) == "demo/../../etc/passwd\n$(reboot)"


def test_label_shows_pod_or_selectors():
    assert targets.label({"namespace": "n", "pod": "", "label_selectors": ["a=1", "b=2"]}) == "n/a=1,b=2"


def test_memory_searches_from_lines_strings_and_dicts():
    assert targets.memory_searches("KEY_1\n\n  KEY_2 \n", [{"hex": "dead"}]) == [
        {"pattern": "KEY_1"}, {"pattern": "KEY_2"}, {"hex": "dead"}]
    assert targets.memory_searches([" ", {"regex": "a.b"}], None) == [{"regex": "a.b"}]
    assert targets.memory_searches([], []) == []
