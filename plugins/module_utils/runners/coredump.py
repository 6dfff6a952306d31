# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_coredump: ELF core files of a checkpoint's processes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.core import write_cores
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import file_sha256
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import Outcome


def run(params, check_mode):
    cores, warnings = write_cores(params["path"], params["dest"], pids=params["pid"], root=params["root"],
                                  overwrite=params["overwrite"], checksum=params["checksum"], check_mode=check_mode)
    result = dict(changed=any(core["changed"] for core in cores), cores=cores)
    if params["checksum"]:
        try:
            result["archive_sha256"] = file_sha256(params["path"])
        except CheckpointError as exc:
            return Outcome(result, warnings, str(exc))
    return Outcome(result, warnings)
