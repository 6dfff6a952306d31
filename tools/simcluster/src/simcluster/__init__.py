# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""simcluster: a simulated OpenShift cluster, faithful at the HTTP level, for the tests and
the demo of forensic.checkpoint. See README.md in this directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

__version__ = "1.1.0"
