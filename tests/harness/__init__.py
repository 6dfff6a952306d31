# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integration tests' harness: a handle on the cluster under test (testing.py) and a client
for the simulator's control API (client.py)."""
