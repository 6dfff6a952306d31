# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m simcluster`` (installed by scripts/setup.sh: ``pip install -e tools/simcluster``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

from simcluster.cli import main

sys.exit(main())
