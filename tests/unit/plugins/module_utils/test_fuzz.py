# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the archive reader, the CRIU image decoder and the pagemap mapper.

Bounded for CI; FUZZ_EXAMPLES=20000 pytest -k fuzz runs longer on demand. Any exception other than
the project's own CheckpointError family is a bug.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile_archives as hostile
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError, ImageError
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PAGE_SIZE, PageMap

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seed(archives, tmp_path_factory):
    """A small real archive (metadata and images, no pages) in three forms."""
    members = [(i, d) for i, d in hostile.load_members(archives["worker41"])
               if not i.name.startswith("checkpoint/pages-") and i.name != "rootfs-diff.tar"]
    where = tmp_path_factory.mktemp("seed")
    forms = {}
    for compression in (None, "gz", "zst"):
        path = hostile.write_tar(str(where / ("seed.tar." + str(compression))), members, compression)
        forms[compression] = open(path, "rb").read()
    images = dict((i.name, d) for i, d in members if i.name.endswith(".img") and i.name.startswith("checkpoint/"))
    return forms, images


def _flip(data, edits):
    data = bytearray(data)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data)


@FUZZ
@given(form=st.sampled_from([None, "gz", "zst"]),
       edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=16),
       cut=st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_fuzz_archive_reader(seed, tmp_path, form, edits, cut):
    data = _flip(seed[0][form], edits)
    if cut is not None:
        data = data[:cut % len(data)]
    path = tmp_path / "fuzz.tar"
    path.write_bytes(data)
    try:
        with CheckpointArchive(str(path), checksum=True) as archive:
            metadata.describe(archive)
    except CheckpointError:
        pass


@FUZZ
@given(name=st.sampled_from(["checkpoint/pstree.img", "checkpoint/core-1.img", "checkpoint/mm-1.img",
                             "checkpoint/files.img", "checkpoint/pagemap-1.img", "checkpoint/fdinfo-2.img"]),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
       tail=st.binary(max_size=64))
def test_fuzz_image_decoder(seed, name, edits, tail):
    images = seed[1]
    data = _flip(images[name], edits) + tail if edits or tail else images[name]
    try:
        criu_images.decode(name, data)
    except ImageError:
        pass


@FUZZ
@given(raw=st.binary(max_size=256))
def test_fuzz_image_decoder_on_noise(raw):
    try:
        criu_images.decode("noise.img", b"\x19\x43\x56\x54" + raw)
    except ImageError:
        pass


class _Archive(object):
    """Just enough of CheckpointArchive for PageMap.load."""

    def __init__(self, pagemap, pages_size):
        self.path = "fuzz"
        self._pagemap = pagemap
        self._pages_size = pages_size

    def has(self, name):
        return True

    def read(self, name):
        return self._pagemap

    def member(self, name):
        return type("M", (), {"size": self._pages_size})

    regular = member  # the pages image: a regular member here


@FUZZ
@given(runs=st.lists(st.tuples(st.integers(0, 1 << 48), st.integers(0, 1 << 40), st.integers(0, 7),
                               st.booleans()), max_size=20),
       pages_size=st.integers(0, 1 << 24))
def test_fuzz_pagemap_mapper(runs, pages_size):
    data = hostile.image(hostile.PAGEMAP_MAGIC, [b"\x08\x01"] + [hostile.pagemap_entry(*run) for run in runs])
    try:
        pagemap = PageMap.load(_Archive(data, pages_size), 1)
    except ImageError:
        return
    # What the mapper accepts is consistent: ordered, disjoint, inside the pages image.
    end = 0
    for run in pagemap.runs:
        assert run.vaddr >= end and run.vaddr % PAGE_SIZE == 0
        end = run.end
        if run.present:
            assert run.offset + run.size <= pages_size
    for vaddr, offset, length in pagemap.segments():
        assert offset + length <= pages_size and length % PAGE_SIZE == 0
