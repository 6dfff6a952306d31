# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the cluster modules' integration tests (``cluster`` and ``ansible`` come from
tests/integration/conftest.py).

Against a real cluster (FORENSIC_KUBECONFIG) the irreversible FeatureGate change is only made
with FORENSIC_ALLOW_IRREVERSIBLE=1; tests that need it are skipped otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from harness.api import Api


@pytest.fixture(scope="session")
def api(cluster):
    return Api(cluster)


@pytest.fixture
def fresh(cluster, api):
    """The simulator as started (skipped on a real cluster: it cannot be reset)."""
    if cluster.sim is None:
        pytest.skip("needs a cluster that can be reset (the simulator)")
    cluster.sim.reset()
    yield api
    cluster.sim.clear_faults()
