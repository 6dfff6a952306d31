# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the packaging tests: commands run outside the repository, in a clean environment."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
# What a developer's working tree holds besides the sources: none of it may ship.
JUNK = ("__pycache__/x.cpython-311.pyc", "plugins/module_utils/__pycache__/archive.cpython-311.pyc",
        "plugins/modules/checkpoint_info.py.swp", "plugins/modules/checkpoint_info.py~", "roles/.#main.yml",
        ".hypothesis/examples/x", ".pytest_cache/v/cache/lastfailed", "plugins/.pytest_cache/README.md",
        ".idea/workspace.xml", ".vscode/settings.json", ".DS_Store", "docs/.DS_Store", ".mypy_cache/x.json",
        "plugins/module_utils/x.pyo", "tests/output/junit/x.xml", "demo-output/report.html",
        "forensic-checkpoint-0.0.9.tar.gz", ".venv/bin/python", ".ansible/collections/ansible_collections/x/y/z.yml")


def clean_env(**extra):
    """The environment minus this repository's Ansible and Python settings."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV")))
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(REPO))
    env["ANSIBLE_LOCAL_TEMP"] = extra.pop("tmp", env.get("TMPDIR", "/tmp"))
    env.update(extra)
    return env


def run(args, cwd, **env):
    return subprocess.run(args, cwd=str(cwd), env=clean_env(**env), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True).stdout
