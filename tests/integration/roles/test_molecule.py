# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The molecule scenarios of the roles (extensions/molecule/), each against its own simulated
cluster: converge, idempotence (where the role is idempotent), verify."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

from harness.testing import REPO_ROOT

SCENARIOS = ("enable_checkpointing", "checkpoint_analyser", "forensic_checkpoint")
MOLECULE = os.path.join(os.path.dirname(sys.executable), "molecule")


@pytest.mark.simulated_only
@pytest.mark.skipif(not os.path.exists(MOLECULE), reason="molecule is not installed (requirements-dev.txt)")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_FORCE_COLOR="0", NO_COLOR="1")
    for key in [k for k in env if k.startswith("K8S_AUTH_") or k == "KUBECONFIG"]:
        del env[key]
    proc = subprocess.run([MOLECULE, "test", "-s", scenario], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=1200, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-8000:]
