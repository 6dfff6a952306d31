# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""checkpoint_info as Ansible itself reports it: a listing with non-archives is a task that ran."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import repo_paths


def test_listing_with_a_non_archive_is_not_a_skipped_task(archives, tmp_path):
    """Issue 14: a result key named ``skipped`` made Ansible show ``localhost | SKIPPED`` and
    ``is skipped`` true, hiding the listing. The task status comes from Ansible's own output."""
    shutil.copy(archives["worker41"], str(tmp_path))
    (tmp_path / "README.md").write_text("not an archive\n")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(repo_paths.REPO, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1")
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    done = subprocess.run([ansible, "localhost", "-m", "forensic.checkpoint.checkpoint_info", "-a", "path=%s" % tmp_path],
                          cwd=repo_paths.REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    task = stats["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert stats["stats"]["localhost"]["skipped"] == 0 and stats["stats"]["localhost"]["ok"] == 1
    assert "skipped" not in task and task["changed"] is False
    assert [item["path"] for item in task["not_checkpoints"]] == [str(tmp_path / "README.md")]
    assert [os.path.basename(item["path"]) for item in task["checkpoints"]] == ["worker-criu41.tar.gz"]
