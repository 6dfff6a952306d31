# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_coredump: ELF core files of a checkpoint's processes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.core import write_cores
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import Checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import Outcome


def run(params, check_mode):
    # The archive's SHA-256 comes from the Checkpoint's indexing pass, not from reading it again.
    with Checkpoint(params["path"], checksum=params["checksum"]) as checkpoint:
        cores, warnings = write_cores(checkpoint, params["dest"], pids=params["pid"], root=params["root"],
                                      overwrite=params["overwrite"], checksum=params["checksum"],
                                      check_mode=check_mode, max_bytes=params["max_bytes"])
        result = dict(changed=any(core["changed"] for core in cores), cores=cores)
        if params["checksum"]:
            result["archive_sha256"] = checkpoint.archive.sha256
    return Outcome(result, warnings)
