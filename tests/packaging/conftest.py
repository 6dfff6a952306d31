# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: built from a working tree, installed into a clean path.

The working tree is a copy of what git tracks or would track, plus the caches and editor files a
developer's tree holds, so that build_ignore is tested on them. Every command runs outside the
repository, so its ansible.cfg (collections_path = .collections) plays no part.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import shutil
import subprocess

import pytest

from packaging_helpers import BIN, JUNK, REPO, run


def copy_tree(dest, junk=()):
    """The files git tracks or would track (a clone, with uncommitted work), and ``junk``."""
    files = subprocess.check_output(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO).split(b"\0")
    for name in (f.decode() for f in files if f):
        source = os.path.join(REPO, name)
        if os.path.isfile(source) and not os.path.islink(source):
            os.makedirs(str(dest / os.path.dirname(name)), exist_ok=True)
            shutil.copy2(source, str(dest / name))
    for name in junk:
        os.makedirs(str(dest / os.path.dirname(name)), exist_ok=True)
        (dest / name).write_text(u"junk\n")
    return dest


@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    """A developer's working tree: the repository's files and the junk such a tree holds."""
    return copy_tree(tmp_path_factory.mktemp("tree") / "checkpoint", JUNK)


@pytest.fixture(scope="session")
def clone(tmp_path_factory):
    """A fresh clone, as the README's instructions start from."""
    return copy_tree(tmp_path_factory.mktemp("clone") / "checkpoint")


@pytest.fixture(scope="session")
def tarball(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(tree)], cwd=out)
    (built,) = glob.glob(str(out / "forensic-checkpoint-*.tar.gz"))
    return built


@pytest.fixture(scope="session")
def installed(tarball, tmp_path_factory):
    """(collections path, collection directory) of the tarball installed as users install it."""
    path = tmp_path_factory.mktemp("collections")
    # --no-deps: kubernetes.core comes from the ansible package here (Galaxy is not reachable).
    # --force: a copy already in the user's default collections path would otherwise make
    # ansible-galaxy install nothing here ("All requested collections are already installed").
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p", str(path), tarball],
        cwd=path)
    return path, path / "ansible_collections" / "forensic" / "checkpoint"
