# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every analysis module on every fixture archive returns what it returned before the refactoring.

tests/fixtures/regression/outputs.json was recorded (``python tests/module_outputs.py``) from the
code before issue 14 moved it. The only differences allowed are the bugs issue 14 lists; each is
applied to the recorded data by a function below naming the bug, so everything else must match
exactly, value for value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest

import conftest
import module_outputs

with open(module_outputs.DATA) as _handle:
    RECORDED = json.load(_handle)

# Bug fixes of issue 14 that change recorded outputs: name -> function(case name, recorded result) -> expected.
FIXES = []


def expected(name):
    result = copy.deepcopy(RECORDED[name])
    for fix in FIXES:
        result = fix(name, result)
    return result


@pytest.fixture(scope="module")
def outputs(archives, tmp_path_factory):
    archives = dict(archives, bigmem=os.path.join(conftest.ARCHIVES, "bigmem-768m.tar.zst"))
    return module_outputs.run_cases(archives, str(tmp_path_factory.mktemp("out")))


def test_every_case_recorded_is_run(outputs):
    assert sorted(outputs) == sorted(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_output_unchanged(outputs, name):
    assert outputs[name] == expected(name)
