# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_info: describe an archive, or every archive in a directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.metadata import scan
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import Outcome


def run(params, check_mode):
    checkpoints, others = scan(params["path"], checksum=params["checksum"])
    warnings = ["%s: %s" % (checkpoint["path"], warning) for checkpoint in checkpoints for warning in checkpoint["warnings"]]
    return Outcome(dict(changed=False, checkpoints=checkpoints, not_checkpoints=others), warnings)
