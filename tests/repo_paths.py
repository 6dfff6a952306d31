# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the repository and its fixture archives are, for tests that need the paths outside a fixture.

A module of its own, because ``import conftest`` finds whichever conftest pytest loaded first
(tools/simcluster/tests has one too).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHIVES = os.path.join(REPO, "tests", "fixtures", "archives")
