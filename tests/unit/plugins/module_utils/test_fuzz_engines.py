# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the engines over well-formed but wrong inputs (issue 16): any JSON value
where a metadata document holds one, any value of a CRIU image field's type where the image holds
one. test_fuzz.py breaks the bytes; these keep the framing and change the meaning, which is how a
CRI-O annotation that is not a string and a forged pstree pid reached a TypeError and a KeyError.
The listing, the analysis, the diff against the untouched archive, the memory listing and the core
dumps' plans must end in a result or the project's own CheckpointError, nothing else.

Bounded for CI; FUZZ_EXAMPLES=2000 pytest -k fuzz_engines runs longer on demand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile_archives as hostile
import hostile_bounds as hb
from ansible_collections.forensic.checkpoint.plugins.module_utils.coredump.core import write_cores
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import analyze as analyze_runner
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import info as info_runner
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners import memory as memory_runner
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import FINDINGS_OPTIONS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DOCUMENTS = ("config.dump", "spec.dump", "network.status")
JSON = st.recursive(st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)


class _Seed(tuple):
    def __repr__(self):  # hypothesis shows the arguments of a failing example: not 17 MB of members
        return "seed(%s)" % self[1]


@pytest.fixture(scope="module")
def seed(archives):
    """worker41 (Podman, CRIU 4.1, three processes) without its rootfs diff, and the archive's path."""
    members = [(i, d) for i, d in hostile.load_members(archives["worker41"]) if i.name != "rootfs-diff.tar"]
    return _Seed((members, archives["worker41"]))


@pytest.fixture(scope="module")
def crio_seed(archives):
    """The kubelet's (CRI-O) archive: its spec.dump holds the io.kubernetes.cri-o annotations."""
    return _Seed((hostile.load_members(archives["crio"]), archives["crio"]))


def _params(**extra):
    params = dict((name, spec.get("default")) for name, spec in FINDINGS_OPTIONS.items())
    params.update(export=None, export_dir=None, include=None, checksum=False, report=None, report_format="html",
                  fail_on_severity=None, max_processes=1000, max_files=None, max_rootfs_entries=None,
                  max_total_files=None, case_id=None)
    params.update(extra)
    return params


def _engines(path, original, tmp_path):
    """Every engine over ``path``: each ends in a result or a CheckpointError."""
    runs = [lambda: info_runner.run({"path": path, "checksum": False}, False),
            lambda: analyze_runner.run_analyze(_params(path=path), False),
            lambda: analyze_runner.run_diff(_params(before=original, after=path), False),
            lambda: memory_runner.query({"path": path, "max_vmas": 10000, "max_processes": 1000}),
            lambda: write_cores(path, str(tmp_path / "cores"), check_mode=True)]
    for run in runs:
        try:
            run()
        except CheckpointError:
            pass


def _paths(value, at=()):
    """Every place in a JSON document, as a list of keys and indexes."""
    yield at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, at + (key,))


def _replaced(value, at, new):
    """``value`` with the place ``at`` and its siblings (every item of its container) made ``new``:
    a reader that checks one annotation or one interface but not the next is found as often."""
    if len(at) == 1:
        for key in (value.keys() if isinstance(value, dict) else range(len(value))):
            value[key] = new
        return value
    if not at:
        return new
    value[at[0]] = _replaced(value[at[0]], at[1:], new)
    return value


@FUZZ
@given(crio=st.booleans(), which=st.integers(0, 5), where=st.integers(0, 1 << 16), value=JSON)
def test_fuzz_metadata_values(seed, crio_seed, tmp_path, crio, which, where, value):
    members, original = crio_seed if crio else seed
    present = [name for name in DOCUMENTS if any(info.name == name for info, _data in members)]
    document = present[which % len(present)]  # CRI-O writes no network.status
    parsed = json.loads(hostile.content(members, document))
    places = list(_paths(parsed))
    changed = json.dumps(_replaced(parsed, places[where % len(places)], value)).encode()
    path = hostile.write_tar(str(tmp_path / "fuzzed.tar"), hostile.replace(members, document, changed))
    _engines(path, original, tmp_path)


def _repeated(field):
    # ``label`` left protobuf's descriptors in 6.x for ``is_repeated``; older ones have only ``label``
    return field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED


def _scalars(message, at=()):
    """(message, field, path) of every scalar field set in ``message`` and its sub-messages."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for index, item in enumerate(value if _repeated(field) else [value]):
                yield from _scalars(item, at + ((field.name, index),))
        else:
            yield message, field, at


INTS = st.sampled_from([0, 1, -1, 7, 255, 4096, (1 << 31) - 1, -(1 << 31), (1 << 32) - 1, (1 << 63) - 1, -(1 << 63),
                        (1 << 64) - 1])
EXTREME = {"int": INTS, "bool": st.booleans(), "str": st.text(max_size=12), "bytes": st.binary(max_size=12),
           "float": st.floats()}


def _kind(field):
    if field.type in (field.TYPE_STRING,):
        return "str"
    if field.type == field.TYPE_BYTES:
        return "bytes"
    if field.type == field.TYPE_BOOL:
        return "bool"
    if field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
        return "float"
    return "int"


@FUZZ
@given(image=st.sampled_from(["checkpoint/pstree.img", "checkpoint/core-1.img", "checkpoint/mm-1.img",
                              "checkpoint/pagemap-1.img", "checkpoint/fdinfo-2.img", "checkpoint/files.img",
                              "checkpoint/fs-1.img", "checkpoint/ids-1.img", "checkpoint/mountpoints-13.img"]),
       where=st.integers(0, 1 << 16), data=st.data())
def test_fuzz_image_fields(seed, tmp_path, image, where, data):
    members, original = seed
    decoded = criu_images.decode(image, hostile.content(members, image))
    entries = list(decoded.entries)
    places = [place for entry in entries for place in _scalars(entry)]
    message, field, _at = places[where % len(places)]
    value = data.draw(EXTREME[_kind(field)])
    try:
        if _repeated(field):
            getattr(message, field.name)[0] = value
        else:
            setattr(message, field.name, value)
    except (ValueError, TypeError, OverflowError):
        return  # out of the field's own range: protobuf refuses to write it, so no image can hold it
    path = hb.replaced_images(str(tmp_path / "fuzzed.tar"), members, {image: (decoded.magic, entries)})
    _engines(path, original, tmp_path)
