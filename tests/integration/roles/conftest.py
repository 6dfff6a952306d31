# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the tests of the roles and playbooks (helpers: rolehelpers.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest


@pytest.fixture
def sim_cluster(fresh_cluster):
    """A reset simulated cluster (fault injection needs the simulator)."""
    return fresh_cluster
