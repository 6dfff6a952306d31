# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The analyser image's pure parts: reference syntax (distribution/reference's grammar, what the
kubelet parses), the role's real Containerfile with its FROM resolved, a byte-stable build context."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import tarfile

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.cluster import image_build
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
CONTAINERFILE = os.path.join(ROOT, "roles", "checkpoint_analyser", "files", "Containerfile")


@pytest.mark.parametrize("reference", [
    "fedora", "registry.fedoraproject.org/fedora-minimal:40", "localhost:5000/a/b_c__d-e:v1.2",
    "image-registry.openshift-image-registry.svc:5000/forensic-checkpoint/checkpoint-analyser@sha256:" + "a" * 64,
    "quay.io/x/y:1@sha256:" + "0" * 64,
])
def test_valid_references(reference):
    assert image_build.validate_reference(reference, "image") == reference


@pytest.mark.parametrize("reference", [
    "", "Quay.io/Bad//Name", "quay.io/UPPER/x", "x:", "x:-tag", "quay.io/x@sha256:short", "a/b c", "-x/y",
    "quay.io/" + "a" * 256,
])
def test_invalid_references_name_the_problem_in_one_line(reference):
    with pytest.raises(CheckpointError) as err:
        image_build.validate_reference(reference, "analyser image")
    assert str(err.value).startswith("analyser image: %r is not a valid image reference" % reference)
    assert "\n" not in str(err.value)


def test_the_containerfile_from_takes_the_arg_default_or_the_mirror():
    with open(CONTAINERFILE) as handle:
        text = handle.read()
    assert "FROM ${BASE_IMAGE}" in text
    default = image_build.dockerfile_for(text)
    assert "\nFROM registry.fedoraproject.org/fedora-minimal:40\n" in default
    mirrored = image_build.dockerfile_for(text, "mirror.example.com:5000/fedora/fedora-minimal:40")
    assert "\nFROM mirror.example.com:5000/fedora/fedora-minimal:40\n" in mirrored
    assert mirrored.replace("mirror.example.com:5000/fedora", "registry.fedoraproject.org") == default
    with pytest.raises(CheckpointError, match="base image: 'Mirror/X' is not a valid"):
        image_build.dockerfile_for(text, "Mirror/X")
    with pytest.raises(CheckpointError, match="without a default"):
        image_build.dockerfile_for("FROM $BASE_IMAGE\n")
    assert image_build.dockerfile_for("FROM fedora:40\nRUN true\n", "ignored") == "FROM fedora:40\nRUN true\n"


def test_the_build_context_is_a_byte_stable_tar_of_the_files():
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        requirements = handle.read()
    files = {"requirements.txt": requirements, "b/c.txt": "x"}
    blob = image_build.context_tar(files)
    assert blob == image_build.context_tar(dict(reversed(list(files.items()))))
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        assert tar.getnames() == ["b/c.txt", "requirements.txt"]
        assert tar.extractfile("requirements.txt").read().decode() == requirements
