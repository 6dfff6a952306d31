# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CRIU images decode alike under the venv's protobuf and the distribution's: pycriu comes from the
distribution, whose protobuf may be older than the 4.22 that brought GetMessageClass (Debian 12 has
4.21; the analyser image and the nodes run such a python). The batch decoding of payload-less
images once failed there with an AttributeError on every archive."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from repo_paths import REPO

FIXTURE = os.path.join(REPO, "tests", "fixtures", "archives", "lookup-compromised.tar.gz")
SYSTEM_PYTHON = "/usr/bin/python3"
COUNT = r"""
import json, sys
from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis import analyze
result = analyze.analyze(sys.argv[1])
print(json.dumps(sorted((p["pid"], p["comm"], len(p.get("vmas") or [])) for p in result["processes"])))
"""


def _processes(python):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".collections"))
    proc = subprocess.run([python, "-c", COUNT, FIXTURE], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_the_distribution_python_decodes_as_the_venv_does():
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import google.protobuf, pycriu"], capture_output=True, check=False) \
        if os.path.exists(SYSTEM_PYTHON) else None
    if probe is None or probe.returncode != 0:
        pytest.skip("%s has no protobuf and pycriu of the distribution" % SYSTEM_PYTHON)
    venv = _processes(sys.executable)
    assert venv and venv == _processes(SYSTEM_PYTHON)
