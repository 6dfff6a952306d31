# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' filters are registered under their documented names and report bad input as a
one-line filter error, not a traceback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.forensic.checkpoint.plugins.filter import custody, rollout, targets

FILTERS = dict(list(targets.FilterModule().filters().items()) + list(custody.FilterModule().filters().items())
               + list(rollout.FilterModule().filters().items()))
HERE = os.path.dirname(targets.__file__)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_is_documented(name):
    assert os.path.exists(os.path.join(HERE, name + ".yml")), "%s has no plugins/filter/%s.yml" % (name, name)


def test_bad_target_is_a_filter_error_naming_it():
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["checkpoint_targets"]([{"namespace": "demo"}])
    assert str(err.value) == "target 1 (demo/): needs a namespace and a pod or label_selectors"


def test_gather_reads_only_the_runs_hosts():
    hosts = {"forensic-analyser-w0": {"_forensic_checkpoint_results": [{"key": "k"}]}, "other": {}}
    assert FILTERS["custody_gather"](hosts, ["forensic-analyser-w0", "gone"]) == {
        "results": [{"key": "k"}], "failed_nodes": [{"node": "gone", "error": "the analysis did not run", "archives": []}]}
