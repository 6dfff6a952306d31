# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the enable_checkpointing role: what the cluster holds after enabling.
Thin wrappers over module_utils/rollout (documented in the sidecar .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.rollout import state


class FilterModule(object):
    def filters(self):
        return {"checkpointing_state": state.state, "checkpointing_state_lines": state.lines}
