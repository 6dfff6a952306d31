# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_diff as Ansible runs it: both analyses' warnings reach the user; no hashing unasked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hostile_archives as hostile
import module_outputs


def run_module(_capsys, args):
    return module_outputs.run_module("checkpoint_diff", args)


def test_warnings_of_both_sides_and_no_hash_without_checksum(archives, capsys, tmp_path):
    """Issue 14: the diff dropped the analyses' warnings, and hashed both archives with checksum false."""
    members = hostile.without(hostile.load_members(archives["counters"]), "rootfs-diff.tar")
    before, after = str(tmp_path / "before.tar"), str(tmp_path / "after.tar")
    hostile.write_tar(before, members)
    hostile.write_tar(after, members)
    result = run_module(capsys, {"before": before, "after": after})
    assert "failed" not in result
    messages = result["warnings"]
    for path in (before, after):
        assert path + ": rootfs-diff.tar is missing: file system changes are unknown" in messages
    assert result["checkpoint_diff"]["before"]["sha256"] is None and result["checkpoint_diff"]["after"]["sha256"] is None
    assert "sha256" not in result
    hashed = run_module(capsys, {"before": before, "after": after, "checksum": True})
    assert hashed["sha256"]["before"] == hashed["sha256"]["after"] == hashed["checkpoint_diff"]["before"]["sha256"]
