# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_diff as Ansible runs it: both analyses' warnings reach the user; no hashing unasked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from ansible.module_utils.testing import patch_module_args

import hostile_archives as hostile
from ansible_collections.forensic.checkpoint.plugins.modules import checkpoint_diff


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            checkpoint_diff.main()
    return json.loads(capsys.readouterr().out)


def test_warnings_of_both_sides_and_no_hash_without_checksum(archives, capsys, tmp_path):
    """Issue 14: the diff dropped the analyses' warnings, and hashed both archives with checksum false."""
    members = hostile.without(hostile.load_members(archives["counters"]), "rootfs-diff.tar")
    before, after = str(tmp_path / "before.tar"), str(tmp_path / "after.tar")
    hostile.write_tar(before, members)
    hostile.write_tar(after, members)
    result = run_module(capsys, {"before": before, "after": after})
    assert "failed" not in result
    messages = [item["event"]["msg"] if isinstance(item, dict) else item for item in result.get("warnings", [])]
    for path in (before, after):
        assert path + ": rootfs-diff.tar is missing: file system changes are unknown" in messages
    assert result["checkpoint_diff"]["before"]["sha256"] is None and result["checkpoint_diff"]["after"]["sha256"] is None
    assert "sha256" not in result
    hashed = run_module(capsys, {"before": before, "after": after, "checksum": True})
    assert hashed["sha256"]["before"] == hashed["sha256"]["after"] == hashed["checkpoint_diff"]["before"]["sha256"]
