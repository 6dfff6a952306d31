# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 13 §3: compact and single-node clusters. Their masters run the workloads and belong to the
master pool (the MCO's primary pool), so a worker MachineConfig reaches no node: enable.yml must
give the master pool the CRI-O drop-in, derived from the cluster, and the incident run then
checkpoints the counters pod on a master."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest

from harness.testing import simulated
from rolehelpers import FAST, custody, explain, machine_config_names, playbook, tasks_named

pytestmark = pytest.mark.simulated_only


@pytest.fixture(params=["compact", "sno"])
def topology(request, tmp_path_factory):
    with simulated(str(tmp_path_factory.mktemp("sim-" + request.param)), "--topology", request.param) as (handle, runner):
        yield request.param, handle, runner


def test_enabled_and_checkpointed_on_the_masters(topology, tmp_path):
    name, cluster, ansible = topology
    prepared = ansible.playbook(playbook("enable.yml"), dict(FAST, enable_checkpointing_accept_irreversible=True))
    assert prepared.rc == 0, explain(prepared)
    assert "05-master-enable-criu" in machine_config_names(cluster)
    state = tasks_named(prepared, "Show the state of every object")[-1]["msg"]
    masters = ["master-0", "master-1", "master-2"] if name == "compact" else ["master-0"]
    assert "Nodes rebooted by this run: %s" % ", ".join(masters) in state, state

    result = ansible.playbook(playbook("forensic.yml"), dict(
        FAST, forensic_checkpoint_namespace="demo", forensic_checkpoint_label_selectors="app=counters",
        forensic_checkpoint_report=False, forensic_checkpoint_output_dir=str(tmp_path)))
    assert result.rc == 0, explain(result)
    (run,) = glob.glob(os.path.join(str(tmp_path), "run-*"))
    (item,) = custody(run)["items"]
    assert item["node"]["name"] in masters and item["container"]["identity_changed"] == []
