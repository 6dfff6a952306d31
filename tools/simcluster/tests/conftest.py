# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator's own tests: ``start_sim(*options)`` runs ``python -m simcluster start
--daemon`` (fast timings) and returns a ``simtest.Sim``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess
import sys

import pytest
from simtest import FAST, Sim


@pytest.fixture
def start_sim(tmp_path):
    started = []

    def start(*options, fast=True):
        state = str(tmp_path / ("sim%d" % len(started)))
        proc = subprocess.run([sys.executable, "-m", "simcluster", "start", "--state-dir",
                               state, "--daemon"] + list(FAST if fast else ()) + list(options),
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        sim = Sim(state)
        started.append(sim)
        return sim
    yield start
    for sim in started:
        sim.stop()
