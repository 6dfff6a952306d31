# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared test data: the real checkpoint archives, restored to the forms engines write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest
import zstandard

from repo_paths import ARCHIVES

KUBELET_NAME = "checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar"


def decompress_zstd(src, dest):
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        zstandard.ZstdDecompressor().copy_stream(fin, fout)
    return dest


@pytest.fixture(scope="session")
def archives(tmp_path_factory):
    """Paths of the fixture archives, each in the form its engine wrote it.

    counters (Podman, plain tar), crio (kubelet/CRI-O plain tar, named with colons), lookup (gzip),
    lookup_later (zstd), worker41 (gzip, CRIU 4.1), counters_zst (zstd form of counters).
    Read-only copies, so a test that tried to modify evidence would fail loudly.
    """
    return restore_archives(str(tmp_path_factory.mktemp("archives")))


def restore_archives(where):
    """Restore the fixture archives into the directory ``where`` (see ``archives``)."""
    paths = {
        "counters": decompress_zstd(os.path.join(ARCHIVES, "counters.tar.zst"), os.path.join(where, "counters.tar")),
        "crio": decompress_zstd(os.path.join(ARCHIVES, "counters-crio.tar.zst"), os.path.join(where, KUBELET_NAME)),
    }
    for key, name in (("counters_zst", "counters.tar.zst"), ("lookup", "lookup-compromised.tar.gz"), ("lookup_later", "lookup-compromised-later.tar.zst"),
                      ("worker41", "worker-criu41.tar.gz")):
        paths[key] = shutil.copy(os.path.join(ARCHIVES, name), os.path.join(where, name))
    for path in paths.values():
        os.chmod(path, 0o444)
    return paths
