# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""criu/tree.py: one process tree per opened archive; every image decoded at most once per run,
whichever consumers (the Checkpoint's memory pass, the analysis, the findings, memory queries,
core dumps) ask for it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

import pytest

import module_outputs
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.checkpoint import Checkpoint
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.tree import ProcessTree
from ansible_collections.forensic.checkpoint.plugins.module_utils.memory.pagemap import PageMap, load_processes


@pytest.fixture
def decodes(monkeypatch):
    """How many times each image member was decoded."""
    counts = collections.Counter()
    decode = criu_images.decode

    def counted(name, data, expect=None):
        counts[name] += 1
        return decode(name, data, expect)

    monkeypatch.setattr(criu_images, "decode", counted)
    return counts


@pytest.mark.parametrize("module, args", [
    ("checkpoint_analyze", {}),
    ("checkpoint_analyze", {"indicators": ["RANDOM_1432_KEY"]}),
    ("checkpoint_memory", {"pattern": "RANDOM_1432_KEY"}),
    ("checkpoint_memory", {}),
])
@pytest.mark.parametrize("key", ["counters_zst", "lookup", "crio"])
def test_every_image_is_decoded_once_per_run(archives, decodes, module, args, key):
    result = module_outputs.run_module(module, dict(args, path=archives[key]))
    assert not result.get("failed"), result.get("msg")
    assert decodes and names.PSTREE in decodes
    assert [name for name, count in decodes.items() if count > 1] == []


def test_coredump_decodes_every_image_once(archives, decodes, tmp_path):
    result = module_outputs.run_module("checkpoint_coredump", {"path": archives["lookup"], "dest": str(tmp_path)})
    assert not result.get("failed"), result.get("msg")
    assert decodes[names.core(15)] == decodes[names.mm(15)] == decodes[names.pagemap(15)] == 1
    assert [name for name, count in decodes.items() if count > 1] == []


def test_one_tree_per_archive_shared_by_the_consumers(archives):
    with Checkpoint(archives["lookup"]) as checkpoint:
        tree = checkpoint.tree
        assert tree is ProcessTree.of(checkpoint.archive)
        assert tree.pids() == [1, 15, 16, 20]
        task = tree.task(20)
        assert (task.ppid, task.pgid, task.sid, task.comm, task.state, task.zombie) == (16, 15, 15, "busybox", 1, False)
        assert tree.task(99) is None
        processes = load_processes(checkpoint.archive)
        assert processes[3].pagemap is PageMap.of(checkpoint.archive, 20) is PageMap.built(checkpoint.archive, 20)
        assert tree.pages_of(20) == processes[3].pagemap.pages


@pytest.mark.parametrize("state, label", [(names.TASK_ALIVE, "running"), (names.TASK_STOPPED, "stopped"),
                                          (names.TASK_DEAD, "zombie"), (names.COMPEL_TASK_ZOMBIE, "zombie")])
def test_task_states_are_named_once(state, label):
    """CRIU's TASK_DEAD (2) and compel's zombie (6) are zombies for every consumer."""
    assert names.TASK_STATE_NAMES[state] == label
    assert (state in names.ZOMBIE_STATES) is (label == "zombie")
