# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forensic.checkpoint.container_checkpoint before checkpointing is enabled: the 404 and 500
mappings (kept apart from the tests that share an enabled cluster)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

MODULE = "forensic.checkpoint.container_checkpoint"
COUNTERS = {"namespace": "demo", "label_selectors": ["app=counters"]}


@pytest.mark.simulated_only
def test_gate_off_and_criu_missing_are_explained(fresh, ansible):
    preflight = ansible.module("forensic.checkpoint.checkpoint_preflight", COUNTERS)
    assert preflight["failed"] is True and preflight["ready"] is False
    assert "the ContainerCheckpoint feature gate is off on node worker-" in preflight["msg"]
    assert "probe: plain 404" in preflight["msg"] and "CRI-O on node worker-" in preflight["msg"]
    gate_off = ansible.module(MODULE, COUNTERS)
    assert gate_off["failed"] is True and gate_off["failures"][0]["status"] == 404
    assert "the ContainerCheckpoint feature gate is not enabled on that node" in gate_off["msg"]
    # the gate alone, rolled out, without CRI-O's CRIU support
    assert ansible.module("forensic.checkpoint.feature_gate", {"accept_irreversible": True})["changed"] is True
    rolled = ansible.module("forensic.checkpoint.machine_config_pool", {"wait": True, "wait_sleep": 1})
    assert rolled.get("failed") is not True, rolled.get("msg")
    # the gate is on now (the probe finds the kubelet's checkpoint API), CRIU is still missing
    preflight = ansible.module("forensic.checkpoint.checkpoint_preflight", dict(COUNTERS, fail_when_not_ready=False))
    assert preflight.get("failed") is not True and preflight["ready"] is False
    for verdict in preflight["nodes"].values():
        assert verdict["gate"]["enabled"] is True and verdict["criu"]["enabled"] is False
        assert verdict["problems"] == ["CRI-O on node %s has no CRIU support (default of CRI-O 1.26 (on from 1.30))"
                                       % verdict["node"]]
    no_criu = ansible.module(MODULE, COUNTERS)
    assert no_criu["failed"] is True and no_criu["failures"][0]["status"] == 500
    assert "CRIU is not available to CRI-O on node" in no_criu["msg"]
    assert "preset=crio_criu" in no_criu["msg"]
